use super::*;
use crate::fixtures::{GET_ORDER, GET_USER, LIST_USERS, USERS, key, memory, put, raw, stored};

/// Stores `"{id}"` as the entry `id` of `function`, and returns its key.
async fn fill(cache: &Cache, function: &CachedFn, id: u64) -> CacheKey {
    let key = key(cache, function, id);
    put(cache, function, &key, &id.to_string()).await;
    key
}

#[tokio::test]
async fn put_writes_through_and_invalidate_removes() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 1);
    let entry = CacheEntry::<Result<String, ()>>::new(&cache, &GET_USER, Ok(key));
    assert_eq!(entry.key(), Some(&key));
    entry.put(&"ada".to_owned()).await;
    assert_eq!(stored::<String>(&cache, &key).await, Some("ada".into()));
    entry.invalidate().await;
    assert_eq!(raw(&cache, &key).await, None);
    let stats = cache.stats();
    assert_eq!((stats.writes, stats.invalidations), (1, 1));
}

#[tokio::test]
async fn put_takes_the_value_the_caching_rule_stores() {
    let cache = memory();
    let (some, none) = (key(&cache, &GET_USER, 1), key(&cache, &GET_USER, 2));
    // `Option<T>`: the `Some` value.
    CacheEntry::<Option<u32>>::new(&cache, &GET_USER, Ok(some))
        .put(&5)
        .await;
    assert_eq!(stored::<u32>(&cache, &some).await, Some(5));
    // `Option<T>` with `cache_none`: the option, `None` included.
    CacheEntry::<Option<u32>, WithNone>::new(&cache, &GET_USER, Ok(none))
        .put(&None)
        .await;
    assert_eq!(stored::<Option<u32>>(&cache, &none).await, Some(None));
    // Any other type: the value itself.
    CacheEntry::<Vec<u8>>::new(&cache, &GET_USER, Ok(some))
        .put(&vec![1, 2])
        .await;
    assert_eq!(stored::<Vec<u8>>(&cache, &some).await, Some(vec![1, 2]));
}

#[tokio::test]
async fn an_entry_whose_key_could_not_be_built_has_nothing_to_do() {
    let cache = memory();
    let unencodable = Err(KeyError::from(bincode::error::EncodeError::Other("test")));
    let entry = CacheEntry::<u32>::new(&cache, &GET_USER, unencodable);
    assert_eq!(entry.key(), None);
    entry.put(&1).await;
    entry.invalidate().await;
    let stats = cache.stats();
    assert_eq!((stats.writes, stats.invalidations), (0, 0));
}

#[tokio::test]
async fn function_entries_are_every_entry_of_that_function_only() {
    let cache = memory();
    let (one, two) = (
        fill(&cache, &GET_USER, 1).await,
        fill(&cache, &GET_USER, 2).await,
    );
    let order = fill(&cache, &GET_ORDER, 1).await;
    FunctionEntries::new(&cache, &GET_USER).invalidate().await;
    assert_eq!(
        (raw(&cache, &one).await, raw(&cache, &two).await),
        (None, None)
    );
    assert_eq!(stored::<String>(&cache, &order).await, Some("1".into()));
}

#[tokio::test]
async fn a_group_spans_functions() {
    let cache = memory();
    let user = fill(&cache, &GET_USER, 1).await;
    let list = fill(&cache, &LIST_USERS, 1).await;
    let order = fill(&cache, &GET_ORDER, 1).await;
    Invalidation::group(&USERS, &cache).apply().await;
    assert_eq!(
        (raw(&cache, &user).await, raw(&cache, &list).await),
        (None, None)
    );
    assert_eq!(stored::<String>(&cache, &order).await, Some("1".into()));
}

#[tokio::test]
async fn invalidate_all_applies_every_target_in_order() {
    let cache = memory();
    let user = fill(&cache, &GET_USER, 1).await;
    let list = fill(&cache, &LIST_USERS, 1).await;
    let order = fill(&cache, &GET_ORDER, 1).await;
    let kept = fill(&cache, &GET_ORDER, 2).await;
    invalidate_all(&[
        Invalidation::from(CacheEntry::<String>::new(&cache, &GET_USER, Ok(user))),
        Invalidation::from(FunctionEntries::new(&cache, &LIST_USERS)),
        Invalidation::from(CacheEntry::<String>::new(&cache, &GET_ORDER, Ok(order))),
    ])
    .await;
    for gone in [user, list, order] {
        assert_eq!(raw(&cache, &gone).await, None);
    }
    assert!(raw(&cache, &kept).await.is_some());
    assert_eq!(cache.stats().invalidations, 3);
}
