use cache_runtime::{Cache, cached, invalidate};

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(ttl = 60, cache = self.cache)]
    async fn find(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }

    #[invalidate(self.fnd(id))]
    async fn delete(&self, id: u64) -> Result<(), String> {
        let _ = id;
        Ok(())
    }
}

fn main() {}
