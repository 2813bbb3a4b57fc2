use cache_runtime::cached;

// The original function is still emitted: `main` gets no follow-up error.
#[cached(prefix = "user")]
async fn get(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get(1);
}
