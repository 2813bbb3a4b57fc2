use cache_runtime::{cached, invalidate};

#[cached(ttl = 60)]
async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[invalidate(get_user(id, tenant))]
async fn delete_user(id: u64, tenant: u32) -> Result<(), String> {
    let _ = (id, tenant);
    Ok(())
}

fn main() {}
