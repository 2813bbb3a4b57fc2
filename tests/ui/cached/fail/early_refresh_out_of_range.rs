use cache_runtime::cached;

#[cached(ttl = 60, early_refresh = 0.0)]
async fn zero(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, early_refresh = 250)]
async fn too_large(id: u64) -> u64 {
    id
}

fn main() {}
