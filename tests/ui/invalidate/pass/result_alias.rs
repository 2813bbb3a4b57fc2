// The writing function returns a `Result` through an alias: only `Ok` invalidates.
use cache_runtime::{cached, invalidate};

#[derive(Debug)]
struct DbError;

type Result<T, E = DbError> = std::result::Result<T, E>;
type Unit = Result<()>;

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Result<String> {
    Ok(id.to_string())
}

#[invalidate(get_user(id))]
async fn delete_user(id: u64) -> Result<()> {
    if id == 0 {
        return Err(DbError);
    }
    Ok(())
}

#[invalidate(get_user(id))]
async fn delete_checked(id: u64) -> Unit {
    delete_user(id).await?;
    Ok(())
}

fn main() {
    let _ = delete_user(1);
    let _ = delete_checked(1);
}
