use cache_runtime::cached;

struct User {
    id: u64,
}

#[cached(ttl = 60)]
async fn get(id: u64) -> User {
    User { id }
}

fn main() {}
