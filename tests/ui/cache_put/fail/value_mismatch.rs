use cache_runtime::{cache_put, cached};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct User {
    id: u64,
}

#[derive(Clone, Serialize, Deserialize)]
struct Account {
    id: u64,
}

#[derive(Debug)]
struct DbError;

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Result<User, DbError> {
    Ok(User { id })
}

#[cache_put(get_user(account.id))]
async fn update_account(account: Account) -> Result<Account, DbError> {
    Ok(account)
}

fn main() {}
