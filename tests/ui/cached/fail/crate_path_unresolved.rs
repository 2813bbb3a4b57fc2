use cache_runtime::cached;

#[cached(ttl = 60, crate = "cache_rt")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
