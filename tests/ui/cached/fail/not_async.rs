use cache_runtime::cached;

#[cached(ttl = 60)]
fn get(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get(1);
}
