//! The `version` option of `#[cached]`, against a real `redis-server`: the documented
//! way to change a cached type, and the hazard it guards against.
//!
//! A function's keys depend on its signature as written (module path, name, prefix,
//! argument types, return type *name*) and on `version`, never on the definition of
//! the types it names. Each test below declares "the same function" twice, in two
//! block scopes of one test function, as two deployments of one program would: same
//! module path, name, prefix and return type name. Only what the test changes on
//! purpose differs between them.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::{RedisServer, patient};
use serde::{Deserialize, Serialize};

/// These tests count body runs: a patient deadline.
fn cache_for(server: &RedisServer) -> Cache {
    patient(CacheConfig::redis(server.url()))
        .namespace("t")
        .build()
        .expect("valid test configuration")
}

#[tokio::test]
async fn entries_of_version_1_are_not_read_at_version_2() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    let first = {
        #[cached(ttl = 60, prefix = "price", cache = cache, skip(cache, calls), version = 1)]
        async fn price(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
            calls.fetch_add(1, SeqCst);
            id * 100 // cents
        }
        assert_eq!(price(&cache, &calls, 3).await, 300);
        assert_eq!(price(&cache, &calls, 3).await, 300, "a hit");
        price_entry(&&cache, &3).key().expect("a key").to_string()
    };
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(server.entry_keys("t:price:*"), std::slice::from_ref(&first));

    // The next deployment changes the unit of the value, which its serialized form
    // cannot tell, and bumps the version.
    let second = {
        #[cached(ttl = 60, prefix = "price", cache = cache, skip(cache, calls), version = 2)]
        async fn price(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
            calls.fetch_add(1, SeqCst);
            id // whole units
        }
        assert_eq!(price(&cache, &calls, 3).await, 3, "not the version 1 entry");
        assert_eq!(price(&cache, &calls, 3).await, 3, "its own entry, a hit");
        price_entry(&&cache, &3).key().expect("a key").to_string()
    };
    assert_eq!(calls.load(SeqCst), 2, "version 2 ran its body once");
    assert_ne!(first, second, "another key");
    let mut both = vec![first.clone(), second];
    both.sort();
    assert_eq!(server.entry_keys("t:price:*"), both);

    // The control: a function declared like the first, version 1 included, has the
    // first one's identity and reads its entry. So the version alone made the keys
    // differ above.
    let again = {
        #[cached(ttl = 60, prefix = "price", cache = cache, skip(cache, calls), version = 1)]
        async fn price(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
            calls.fetch_add(1, SeqCst);
            id * 100
        }
        assert_eq!(price(&cache, &calls, 3).await, 300, "the version 1 entry");
        price_entry(&&cache, &3).key().expect("a key").to_string()
    };
    assert_eq!(again, first);
    assert_eq!(calls.load(SeqCst), 2, "a hit");
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (2, 3), "{stats:?}");
}

/// What `version` is for. A field inserted into the cached struct changes neither the
/// signature nor the key, and bincode is not self-describing: the old bytes can decode
/// as the new struct, without any error, into the wrong fields. Whether they do
/// depends on the data; here they do.
#[tokio::test]
async fn a_changed_struct_without_a_new_version_decodes_old_entries_into_wrong_fields() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Profile {
            id: u64,
            avatar: Vec<u8>,
        }
        #[cached(ttl = 60, prefix = "profile", cache = cache, skip(cache, calls), version = 1)]
        async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64) -> Profile {
            calls.fetch_add(1, SeqCst);
            Profile {
                id,
                avatar: vec![2, 0xAA, 0xBB],
            }
        }
        profile(&cache, &calls, 7).await;
    }
    assert_eq!(calls.load(SeqCst), 1);

    // The next deployment inserts a `u8` before the `Vec<u8>` and forgets the version.
    // bincode wrote the old value as id, length 3, bytes 2, 0xAA, 0xBB; read as the
    // new struct, that is id, flags 3, a vector of length 2 holding 0xAA, 0xBB.
    {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Profile {
            id: u64,
            flags: u8,
            avatar: Vec<u8>,
        }
        #[cached(ttl = 60, prefix = "profile", cache = cache, skip(cache, calls), version = 1)]
        async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64) -> Profile {
            calls.fetch_add(1, SeqCst);
            Profile {
                id,
                flags: 0,
                avatar: vec![2, 0xAA, 0xBB],
            }
        }
        let read = profile(&cache, &calls, 7).await;
        assert_eq!(calls.load(SeqCst), 1, "a hit on the old entry");
        assert_eq!(
            read,
            Profile {
                id: 7,
                flags: 3,
                avatar: vec![0xAA, 0xBB],
            },
            "the old bytes, read into the wrong fields"
        );
        assert_eq!(cache.stats().decode_failures, 0, "and no error anywhere");

        // The fix: the same change with the version bumped. Declared in a scope of its
        // own so that it can keep the function's name.
        {
            #[cached(ttl = 60, prefix = "profile", cache = cache, skip(cache, calls), version = 2)]
            async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64) -> Profile {
                calls.fetch_add(1, SeqCst);
                Profile {
                    id,
                    flags: 0,
                    avatar: vec![2, 0xAA, 0xBB],
                }
            }
            let read = profile(&cache, &calls, 7).await;
            assert_eq!(calls.load(SeqCst), 2, "a miss: the body ran");
            assert_eq!(
                read,
                Profile {
                    id: 7,
                    flags: 0,
                    avatar: vec![2, 0xAA, 0xBB],
                }
            );
            assert_eq!(profile(&cache, &calls, 7).await, read, "then a hit");
            assert_eq!(calls.load(SeqCst), 2);
        }
    }
    assert_eq!(server.entry_keys("t:profile:*").len(), 2, "one per version");
}
