use cache_runtime::cached;

#[cached(ttl = 60, include_self)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
