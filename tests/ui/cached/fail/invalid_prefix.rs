use cache_runtime::cached;

#[cached(ttl = 60, prefix = "user:v2")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
