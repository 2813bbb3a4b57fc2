use std::time::{Duration, Instant};

use super::*;
use crate::fixtures::{GET_USER, eventually, key, memory, put, raw, stored};
use crate::invalidation;
use crate::retry::Pending;

const LEASE: Ttl = match Ttl::from_millis(5_000) {
    Some(ttl) => ttl,
    None => panic!("non-zero"),
};

/// Takes the lease on `key` of `GET_USER`, waiting at most `wait` for another's.
async fn take_within(cache: &Cache, key: &CacheKey, wait: Duration) -> Lease<String> {
    take::<String>(cache, key, &GET_USER, LEASE, Instant::now() + wait, &|| 0).await
}

fn held(lease: Lease<String>) -> LeaseGuard {
    match lease {
        Lease::Held(guard) => guard,
        Lease::Found(..) => panic!("expected the lease, found a value"),
        Lease::Unavailable => panic!("expected the lease, got none"),
    }
}

fn envelope_of(value: &str) -> Arc<[u8]> {
    let bytes = envelope::encode::<Bincode, _>(value, Meta::now(Duration::ZERO));
    bytes.unwrap_or_else(|err| panic!("encodes: {err}")).into()
}

#[tokio::test]
async fn an_empty_key_is_leased_to_one_caller_at_a_time() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 1);
    let first = held(take_within(&cache, &key, Duration::ZERO).await);
    // The second caller waits for the first, and gives up at its deadline.
    let second = take_within(&cache, &key, Duration::from_millis(30)).await;
    assert!(matches!(second, Lease::Unavailable));
    assert_eq!(cache.stats().lease_waits, 1);
    assert_eq!(
        first.fill(envelope_of("ada"), &GET_USER).await,
        Settled::Intact
    );
    assert_eq!(stored::<String>(&cache, &key).await, Some("ada".into()));
    assert_eq!(cache.stats().writes, 1);
}

#[tokio::test]
async fn a_stored_value_is_found_not_leased() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 2);
    put(&cache, &GET_USER, &key, &"ada".to_owned()).await;
    match take_within(&cache, &key, Duration::ZERO).await {
        Lease::Found(found, _, _) => assert_eq!(found.value, "ada"),
        _ => panic!("expected the stored value"),
    }
}

#[tokio::test]
async fn a_placeholder_past_its_own_lease_is_taken_over() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 3);
    // A crashed holder's placeholder, written long ago and stored without an end.
    let mut dead = envelope::placeholder::<Bincode>(LeaseToken::random(), LEASE.as_duration());
    dead[4..12].copy_from_slice(&1u64.to_le_bytes());
    assert!(GET_USER.write(&cache, &key, Arc::from(&dead[..])).await);
    let guard = held(take_within(&cache, &key, Duration::ZERO).await);
    assert_eq!(cache.stats().leases_taken_over, 1);
    assert_eq!(
        guard.fill(envelope_of("new"), &GET_USER).await,
        Settled::Intact
    );
    assert_eq!(stored::<String>(&cache, &key).await, Some("new".into()));
}

#[tokio::test]
async fn unreadable_bytes_are_removed_then_leased() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 4);
    assert!(
        GET_USER
            .write(&cache, &key, Arc::from(&b"garbage"[..]))
            .await
    );
    let guard = held(take_within(&cache, &key, Duration::ZERO).await);
    assert_eq!(guard.release().await, Settled::Intact);
    assert_eq!(raw(&cache, &key).await, None);
}

#[tokio::test]
async fn an_invalidation_revokes_the_lease() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 5);
    let guard = held(take_within(&cache, &key, Duration::ZERO).await);
    invalidation::entry(&cache, &GET_USER, &key).await;
    assert_eq!(
        guard.fill(envelope_of("stale"), &GET_USER).await,
        Settled::Revoked
    );
    assert_eq!(raw(&cache, &key).await, None);
    assert_eq!(cache.stats().fills_revoked, 1);
}

#[tokio::test]
async fn a_function_invalidation_revokes_the_lease_too() {
    // The placeholder joined the function's index when it was stored.
    let cache = memory();
    let key = key(&cache, &GET_USER, 6);
    let guard = held(take_within(&cache, &key, Duration::ZERO).await);
    invalidation::function(&cache, &GET_USER).await;
    assert_eq!(
        guard.fill(envelope_of("stale"), &GET_USER).await,
        Settled::Revoked
    );
    assert_eq!(raw(&cache, &key).await, None);
}

#[tokio::test]
async fn a_pending_invalidation_revokes_the_fill_and_gives_the_lease_back() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 7);
    let guard = held(take_within(&cache, &key, Duration::ZERO).await);
    // As if an invalidation had failed meanwhile: the backend never saw it.
    cache.retries().add(
        Pending::Entry(key),
        Instant::now() + Duration::from_secs(60),
    );
    assert_eq!(
        guard.fill(envelope_of("stale"), &GET_USER).await,
        Settled::Revoked
    );
    assert_eq!(stored::<String>(&cache, &key).await, None);
    assert_eq!(cache.stats().fills_revoked, 1);
}

#[tokio::test]
async fn a_dropped_lease_is_given_back_in_the_background() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 8);
    drop(held(take_within(&cache, &key, Duration::ZERO).await));
    eventually("given back", || async { raw(&cache, &key).await.is_none() }).await;
    held(take_within(&cache, &key, Duration::ZERO).await);
}

#[tokio::test]
async fn one_caller_at_a_time_refreshes_a_stored_value() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 9);
    put(&cache, &GET_USER, &key, &"old".to_owned()).await;
    let Some((meta, _)) = raw(&cache, &key)
        .await
        .and_then(|bytes| envelope::decode::<Bincode, String>(&bytes).ok())
    else {
        panic!("a value is stored");
    };
    let refresh = take_on_value(&cache, &key, &meta).await;
    let refresh = refresh.unwrap_or_else(|| panic!("the first refresher gets the lease"));
    assert!(take_on_value(&cache, &key, &meta).await.is_none());
    // Readers still get the old value meanwhile.
    assert_eq!(stored::<String>(&cache, &key).await, Some("old".into()));
    assert_eq!(
        refresh.fill(envelope_of("new"), &GET_USER).await,
        Settled::Intact
    );
    assert_eq!(stored::<String>(&cache, &key).await, Some("new".into()));
}
