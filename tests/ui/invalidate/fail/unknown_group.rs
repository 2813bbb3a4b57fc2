use cache_runtime::{CacheGroup, cached, invalidate};

static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

#[cached(ttl = 60, groups(USER_LISTS))]
async fn list_users(page: u32) -> Vec<String> {
    vec![page.to_string()]
}

#[invalidate(USERS_LIST)]
async fn add_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

fn main() {}
