use cache_runtime::{cached, invalidate};

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[invalidate(get_usr(id))]
async fn delete_user(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

fn main() {}
