// Cached methods: `self.find(id)` on a method with `cache = self.cache`, and
// `Self::assoc(id)` for an associated function without a receiver.
use cache_runtime::{Cache, cache_put, cached};

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(ttl = 60, cache = self.cache)]
    async fn find(&self, id: u64) -> Result<String, String> {
        Ok(id.to_string())
    }

    #[cached(ttl = 60)]
    async fn assoc(id: u64) -> Option<String> {
        Some(id.to_string())
    }

    #[cache_put(self.find(id), Self::assoc(id))]
    async fn rename(&self, id: u64, name: String) -> Result<String, String> {
        let _ = &self.cache;
        Ok(name)
    }

    #[cache_put(Self::assoc(id))]
    async fn static_rename(id: u64, name: String) -> String {
        let _ = id;
        name
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let repo = Repo {
        cache: Cache::memory(),
    };
    assert_send(repo.rename(1, String::new()));
    assert_send(Repo::static_rename(1, String::new()));
}
