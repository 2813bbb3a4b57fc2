use cache_runtime::{Cache, CacheConfig, cached, invalidate};

static OTHER: std::sync::LazyLock<Cache> =
    std::sync::LazyLock::new(|| CacheConfig::memory().build().expect("valid"));

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

// Entries are invalidated in their function's cache; `cache = ..` names where groups
// live, and there is no group here.
#[invalidate(get_user(id), cache = &*OTHER)]
async fn delete_user(id: u64) {
    let _ = id;
}

fn main() {}
