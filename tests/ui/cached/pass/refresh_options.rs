// `early_refresh` as a flag and with a float or integer beta, and
// `stale_while_revalidate` in seconds or as a duration, alone and together.
use cache_runtime::cached;

#[cached(ttl = 60, early_refresh)]
async fn flag(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, early_refresh = 2.5)]
async fn float_beta(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, early_refresh = 2)]
async fn int_beta(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, early_refresh = 100)]
async fn max_beta(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, stale_while_revalidate = "30s")]
async fn stale_duration(id: u64) -> u64 {
    id
}

#[cached(ttl = 60, stale_while_revalidate = 30)]
async fn stale_seconds(id: u64) -> u64 {
    id
}

#[cached(ttl = "5m", early_refresh, stale_while_revalidate = "1m30s")]
async fn both(id: u64) -> Option<String> {
    Some(id.to_string())
}

#[cached(stale_while_revalidate = 30, early_refresh = 0.5, ttl = 60)]
async fn any_order(id: u64) -> u64 {
    id
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(flag(1));
    assert_send(float_beta(1));
    assert_send(int_beta(1));
    assert_send(max_beta(1));
    assert_send(stale_duration(1));
    assert_send(stale_seconds(1));
    assert_send(both(1));
    assert_send(any_order(1));
}
