use cache_runtime::cached;

#[cached(ttl = 60, stale_while_revalidate = true)]
async fn get(id: u64) -> u64 {
    id
}

fn main() {}
