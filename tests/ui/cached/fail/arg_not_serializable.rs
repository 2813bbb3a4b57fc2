use cache_runtime::cached;

struct Pool;

#[cached(ttl = 60)]
async fn count(pool: &Pool, customer: u64) -> u64 {
    let _ = pool;
    customer
}

fn main() {}
