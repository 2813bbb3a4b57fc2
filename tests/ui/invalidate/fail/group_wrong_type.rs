use cache_runtime::invalidate;

static USER_LISTS: u32 = 7;

#[invalidate(USER_LISTS)]
async fn add_user(name: String) -> Result<(), String> {
    let _ = name;
    Ok(())
}

fn main() {}
