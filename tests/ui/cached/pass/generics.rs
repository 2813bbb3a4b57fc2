// Generic functions: type, const and lifetime parameters, `where` clauses.
use std::fmt::Display;

use cache_runtime::cached;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cached(ttl = 60)]
async fn echo<T>(value: T) -> T
where
    T: Serialize + DeserializeOwned + Send,
{
    value
}

#[cached(ttl = 60, prefix = "render")]
async fn render<'a, T: Display + Serialize, const N: usize>(items: &'a [T]) -> Vec<String> {
    items.iter().take(N).map(ToString::to_string).collect()
}

#[cached(ttl = 60)]
async fn by_name(name: &str, extra: impl Serialize) -> Option<u64> {
    let _ = extra;
    name.parse().ok()
}

fn main() {
    let _ = echo(1u8);
    let _ = render::<_, 2>(&[1, 2, 3]);
    let _ = by_name("7", 1u8);
}
