// Of several targets, the error lands on the one the value does not fit.
use cache_runtime::{Cache, cache_put, cached};

struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(ttl = 60, cache = self.cache)]
    async fn name(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }

    #[cached(ttl = 60, cache = self.cache)]
    async fn score(&self, id: u64) -> Result<u32, String> {
        Ok(id as u32)
    }

    #[cache_put(self.name(id), self.score(id))]
    async fn rename(&self, id: u64, name: String) -> Result<String, String> {
        let _ = id;
        Ok(name)
    }
}

fn main() {}
