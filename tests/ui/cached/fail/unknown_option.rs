use cache_runtime::cached;

#[cached(ttl = 60, expire = 10)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
