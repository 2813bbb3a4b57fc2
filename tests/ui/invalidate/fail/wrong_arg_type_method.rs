use cache_runtime::{Cache, cached, invalidate};

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(ttl = 60, cache = self.cache)]
    async fn find(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }

    #[invalidate(self.find(name))]
    async fn delete(&self, name: String) -> Result<(), String> {
        let _ = name;
        Ok(())
    }
}

fn main() {}
