use cache_runtime::cached;

#[cached(ttl = 60)]
struct User {
    id: u64,
}

fn main() {
    let _ = User { id: 1 };
}
