// Importing a cached function does not import its companions: `get_user(id)`
// needs `get_user_entry` in scope too (or a path: `users::get_user(id)`).
mod users {
    use cache_runtime::cached;

    #[cached(ttl = 60)]
    pub async fn get_user(id: u64) -> Option<String> {
        Some(id.to_string())
    }
}

use cache_runtime::invalidate;
use users::get_user;

#[invalidate(get_user(id))]
async fn delete_user(id: u64) -> Result<(), String> {
    let _ = (id, get_user);
    Ok(())
}

fn main() {}
