// Groups: statics declared with `CacheGroup::new`, joined with `groups(..)`,
// invalidated by path, in the global cache or in the one `cache = ..` names.
use std::sync::LazyLock;

use cache_runtime::{Cache, CacheGroup, cached, invalidate};

pub static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

mod reports {
    pub static DAILY: cache_runtime::CacheGroup = cache_runtime::CacheGroup::new("daily.v1");
}

static LOCAL: LazyLock<Cache> = LazyLock::new(Cache::memory);

#[cached(ttl = 60, groups(USER_LISTS, reports::DAILY))]
async fn list_users(page: u32) -> Vec<String> {
    vec![page.to_string()]
}

#[cached(ttl = 60, cache = LOCAL, groups(crate::USER_LISTS))]
async fn count_users() -> u64 {
    0
}

#[invalidate(USER_LISTS, reports::DAILY)]
async fn add_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

#[invalidate(crate::USER_LISTS, cache = LOCAL, before)]
async fn add_local_user(name: String) -> Option<()> {
    let _ = name;
    Some(())
}

struct Service {
    cache: Cache,
}

impl Service {
    #[invalidate(USER_LISTS, list_users(page), cache = self.cache)]
    async fn touch(&self, page: u32) {
        let _ = page;
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(add_user(String::new()));
    assert_send(add_local_user(String::new()));
    let service = Service {
        cache: Cache::memory(),
    };
    assert_send(service.touch(1));
    let _ = (list_users(1), count_users());
}
