use cache_runtime::cached;

struct Repo {
    name: String,
}

impl Repo {
    #[cached(ttl = 60, include_self)]
    async fn label(&self, id: u64) -> String {
        format!("{}-{id}", self.name)
    }
}

fn main() {}
