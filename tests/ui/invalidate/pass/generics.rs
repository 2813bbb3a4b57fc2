// Generic cached functions, named with a turbofish.
use std::str::FromStr;

use cache_runtime::{cached, invalidate};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cached(ttl = 60)]
async fn parse_as<T>(text: String) -> Option<T>
where
    T: FromStr + Serialize + DeserializeOwned + Send,
{
    text.parse().ok()
}

#[invalidate(parse_as::<u8>(text), parse_as::<u64>(text))]
async fn forget(text: String) -> Result<(), String> {
    let _ = text;
    Ok(())
}

// Every entry of a generic function, whatever its type arguments.
#[invalidate(parse_as(..))]
async fn forget_all() {}

fn main() {
    let _ = forget(String::new());
    let _ = forget_all();
}
