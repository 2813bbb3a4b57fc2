use cache_runtime::cached;

#[cached(ttl = 60, early_refresh, early_refresh = 2.0)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
