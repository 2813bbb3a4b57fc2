// `#[cache_put]` and `#[invalidate]` on one function, in either order.
use cache_runtime::{CacheGroup, cache_put, cached, invalidate};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Result<User, String> {
    Ok(User {
        id,
        name: String::new(),
    })
}

#[cached(ttl = 60, groups(USER_LISTS))]
async fn list_users(page: u32) -> Vec<User> {
    let _ = page;
    Vec::new()
}

#[cache_put(get_user(user.id))]
#[invalidate(USER_LISTS, list_users(..))]
async fn update_user(user: User) -> Result<User, String> {
    Ok(user)
}

#[invalidate(USER_LISTS, before)]
#[cache_put(get_user(user.id))]
async fn create_user(user: User) -> Result<User, String> {
    Ok(user)
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(update_user(User {
        id: 1,
        name: String::new(),
    }));
    assert_send(create_user(User {
        id: 2,
        name: String::new(),
    }));
}
