use cache_runtime::{cached, invalidate};

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[invalidate(get_user(name))]
async fn delete_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

fn main() {}
