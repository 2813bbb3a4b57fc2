// Several `#[cache_put]` on one method, with an `#[invalidate]` between them (the
// free-function case is in `ui/invalidate/pass/stacked.rs`).
use cache_runtime::{Cache, CacheGroup, cache_put, cached, invalidate};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    email: String,
}

static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

struct Users {
    cache: Cache,
}

impl Users {
    #[cached(ttl = 60, cache = self.cache)]
    async fn by_id(&self, id: u64) -> Result<User, String> {
        Err(id.to_string())
    }

    #[cached(ttl = 60, cache = self.cache)]
    async fn by_email(&self, email: String) -> Option<User> {
        let _ = email;
        None
    }

    #[cached(ttl = 60, cache = self.cache, groups(USER_LISTS))]
    async fn page(&self, page: u32) -> Vec<User> {
        let _ = page;
        Vec::new()
    }

    #[cache_put(self.by_id(user.id))]
    #[invalidate(USER_LISTS, self.page(..), cache = self.cache)]
    #[cache_put(self.by_email(user.email.clone()))]
    async fn save(&self, user: User) -> Result<User, String> {
        Ok(user)
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let users = Users {
        cache: Cache::memory(),
    };
    assert_send(users.save(User {
        id: 1,
        email: String::new(),
    }));
}
