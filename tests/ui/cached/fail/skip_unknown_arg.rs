use cache_runtime::cached;

#[cached(ttl = 60, skip(pool))]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
