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

#[invalidate(parse_as::<u8>(..))]
async fn forget() {}

fn main() {}
