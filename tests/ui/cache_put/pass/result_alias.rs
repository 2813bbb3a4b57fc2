// The writing function returns a `Result` through an alias: the `Ok` value is
// written.
use cache_runtime::{cache_put, cached};

#[derive(Debug)]
struct DbError;

type Result<T, E = DbError> = std::result::Result<T, E>;
type UserResult = Result<String>;

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Result<String> {
    Ok(id.to_string())
}

#[cache_put(get_user(id))]
async fn rename(id: u64, name: String) -> Result<String> {
    if id == 0 {
        return Err(DbError);
    }
    Ok(name)
}

#[cache_put(get_user(id))]
async fn rename_checked(id: u64, name: String) -> UserResult {
    let name = rename(id, name).await?;
    Ok(name)
}

fn main() {
    let _ = rename(1, String::new());
    let _ = rename_checked(1, String::new());
}
