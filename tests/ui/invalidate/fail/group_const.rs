// A group is a `static`: a `const` would be a new group at each use.
use cache_runtime::{CacheGroup, invalidate};

const USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

#[invalidate(USER_LISTS)]
async fn add_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

fn main() {}
