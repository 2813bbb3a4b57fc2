use cache_runtime::cached;

#[cached(ttl = 60, cache_none)]
async fn get(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
