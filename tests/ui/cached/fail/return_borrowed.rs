use cache_runtime::cached;

// A borrowed value could be written to the cache but never read back.
#[cached(ttl = 60)]
async fn name(id: u64) -> Option<&'static str> {
    if id == 0 { None } else { Some("ada") }
}

fn main() {
    let _ = name(1);
}
