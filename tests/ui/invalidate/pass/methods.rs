// Cached methods: `self.find(id)` on a method with `cache = self.cache`, and
// `Self::assoc(id)` for an associated function without a receiver.
use cache_runtime::{Cache, cached, invalidate};

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(ttl = 60, cache = self.cache)]
    async fn find(&self, id: u64) -> Result<String, String> {
        Ok(id.to_string())
    }

    #[cached(ttl = 60)]
    async fn assoc(id: u64) -> Option<u64> {
        Some(id)
    }

    #[invalidate(self.find(id), Self::assoc(id))]
    async fn delete(&self, id: u64) -> Result<(), String> {
        let _ = (&self.cache, id);
        Ok(())
    }

    #[invalidate(self.find(..), Self::assoc(..), before)]
    async fn clear(&self) {}

    #[invalidate(Self::assoc(id))]
    async fn static_delete(id: u64) -> Option<()> {
        let _ = id;
        Some(())
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let repo = Repo {
        cache: Cache::memory(),
    };
    assert_send(repo.delete(1));
    assert_send(repo.clear());
    assert_send(Repo::static_delete(1));
}
