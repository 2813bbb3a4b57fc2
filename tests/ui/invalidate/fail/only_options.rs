use cache_runtime::invalidate;

#[invalidate(before)]
async fn delete_user(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

fn main() {}
