// Every option at once, with the runtime under another name.
use std::sync::LazyLock;

use cache_runtime as rt;
use rt::{Cache, cached};

static LOCAL: LazyLock<Cache> = LazyLock::new(Cache::memory);

struct Pool;

#[cached(
    ttl = "1h30m",
    prefix = "user-v2.by_id",
    skip(pool),
    cache = LOCAL,
    cache_none,
    version = 3,
    early_refresh = 1.5,
    stale_while_revalidate = "30s",
    crate = "rt"
)]
async fn find_user(pool: &Pool, id: u64) -> Option<String> {
    let _ = pool;
    Some(id.to_string())
}

#[cached(ttl = 300)]
async fn plain(a: u64, b: String, c: Vec<(u8, bool)>) -> Vec<String> {
    vec![a.to_string(), b, format!("{c:?}")]
}

#[cached(ttl = "250ms")]
async fn no_args() -> u64 {
    7
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(find_user(&Pool, 1));
    assert_send(plain(1, String::new(), Vec::new()));
    assert_send(no_args());
}
