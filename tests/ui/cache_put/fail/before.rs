use cache_runtime::{cache_put, cached};

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[cache_put(get_user(id), before)]
async fn rename_user(id: u64, name: String) -> Option<String> {
    let _ = id;
    Some(name)
}

fn main() {}
