use cache_runtime::{Cache, CacheConfig, cache_put, cached};

static OTHER: std::sync::LazyLock<Cache> =
    std::sync::LazyLock::new(|| CacheConfig::memory().build().expect("valid"));

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

// The entry lives in `get_user`'s cache (the global one); `cache = ..` here would
// only look like it redirects the write.
#[cache_put(get_user(id), cache = &*OTHER)]
async fn rename_user(id: u64, name: String) -> Option<String> {
    let _ = id;
    Some(name)
}

fn main() {}
