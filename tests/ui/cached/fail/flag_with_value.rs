use cache_runtime::cached;

#[cached(ttl = 60, cache_none = true)]
async fn get(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
