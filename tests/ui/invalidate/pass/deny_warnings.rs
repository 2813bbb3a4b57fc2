// Correct code compiles without warnings: one-expression bodies, arguments used by
// the targets only.
#![deny(warnings)]

use cache_runtime::{CacheGroup, cached, invalidate};

static LISTS: CacheGroup = CacheGroup::new("lists");

#[cached(ttl = 60, groups(LISTS))]
pub async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[invalidate(get_user(id))]
async fn delete_user(id: u64) -> Result<(), String> {
    Ok(())
}

#[invalidate(LISTS, get_user(..), before)]
async fn clear() {}

fn main() {
    let _ = (delete_user(1), clear());
}
