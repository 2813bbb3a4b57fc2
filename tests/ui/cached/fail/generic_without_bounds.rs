use cache_runtime::cached;

#[cached(ttl = 60)]
async fn echo<T>(value: T) -> Option<T> {
    Some(value)
}

fn main() {}
