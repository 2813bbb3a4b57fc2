use cache_runtime::cached;

#[cached(ttl = "0s")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
