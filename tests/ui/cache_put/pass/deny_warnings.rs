// Correct code compiles without warnings: a one-expression body, an argument used by
// the target only.
#![deny(warnings)]

use cache_runtime::{cache_put, cached};

#[cached(ttl = 60)]
pub async fn get_user(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[cache_put(get_user(id))]
async fn rename_user(id: u64, name: String) -> Option<String> {
    Some(name)
}

fn main() {
    let _ = rename_user(1, String::new());
}
