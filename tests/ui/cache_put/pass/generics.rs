// Generic cached functions, named with a turbofish.
use std::str::FromStr;

use cache_runtime::{cache_put, cached};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cached(ttl = 60)]
async fn parse_as<T>(text: String) -> Option<T>
where
    T: FromStr + Serialize + DeserializeOwned + Send,
{
    text.parse().ok()
}

#[cache_put(parse_as::<u8>(text))]
async fn set_byte(text: String, value: u8) -> Option<u8> {
    let _ = text;
    Some(value)
}

fn main() {
    let _ = set_byte(String::new(), 1);
}
