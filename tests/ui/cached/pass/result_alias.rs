// A `Result` alias, `?` and early `return` in the body.
use cache_runtime::cached;
use serde::{Deserialize, Serialize};

#[derive(Debug)]
struct DbError;

impl From<std::num::ParseIntError> for DbError {
    fn from(_: std::num::ParseIntError) -> Self {
        DbError
    }
}

type DbResult<T> = Result<T, DbError>;

#[derive(Serialize, Deserialize)]
struct User {
    id: u64,
}

#[cached(ttl = 60)]
async fn parse_user(text: String) -> DbResult<User> {
    if text.is_empty() {
        return Err(DbError);
    }
    let id: u64 = text.trim().parse()?;
    if id == 0 {
        return Ok(User { id: 1 });
    }
    Ok(User { id })
}

#[cached(ttl = 60)]
async fn first(items: Vec<u64>) -> Option<u64> {
    let first = items.first()?;
    Some(*first)
}

// Only `Ok` values are stored, so the error type may borrow.
#[cached(ttl = 60)]
async fn checked(id: u64) -> Result<u64, &'static str> {
    if id == 0 { Err("zero") } else { Ok(id) }
}

fn main() {
    let _ = checked(1);
    let _ = parse_user(String::new());
    let _ = first(vec![]);
}
