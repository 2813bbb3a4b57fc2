use cache_runtime::{CacheGroup, invalidate};

static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

#[invalidate(USER_LISTS, cache = "redis://localhost")]
async fn add_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

fn main() {}
