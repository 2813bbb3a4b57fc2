//! `#[invalidate]`, `#[cache_put]`, companions and groups against a real `redis-server`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{Cache, CacheConfig, CacheGroup, cache_put, cached, invalidate};
use cache_tests::{RedisServer, patient};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

static USER_LISTS: CacheGroup = CacheGroup::new("user-lists");

/// A stand-in database with read counters, behind cached accessors.
struct Users {
    cache: Cache,
    rows: Mutex<BTreeMap<u64, User>>,
    reads: AtomicUsize,
    list_reads: AtomicUsize,
}

impl Users {
    /// Users cached with a patient deadline: these tests count database reads, which
    /// a cache operation missing the default 50 ms on a loaded machine would change.
    fn new(server: &RedisServer, namespace: &str) -> Self {
        Self::with_cache(
            patient(CacheConfig::redis(server.url()))
                .namespace(namespace)
                .build()
                .expect("valid"),
        )
    }

    fn with_cache(cache: Cache) -> Self {
        let rows = (1..=5)
            .map(|id| {
                (
                    id,
                    User {
                        id,
                        name: format!("user-{id}"),
                    },
                )
            })
            .collect();
        Self {
            cache,
            rows: Mutex::new(rows),
            reads: AtomicUsize::new(0),
            list_reads: AtomicUsize::new(0),
        }
    }

    #[cached(ttl = 60, prefix = "user", cache = self.cache)]
    async fn get(&self, id: u64) -> Result<User, String> {
        self.reads.fetch_add(1, SeqCst);
        self.rows
            .lock()
            .expect("rows")
            .get(&id)
            .cloned()
            .ok_or_else(|| "not found".into())
    }

    #[cached(ttl = 60, prefix = "users", cache = self.cache, groups(USER_LISTS))]
    async fn page(&self, page: usize) -> Vec<User> {
        self.list_reads.fetch_add(1, SeqCst);
        self.rows
            .lock()
            .expect("rows")
            .values()
            .skip(page * 2)
            .take(2)
            .cloned()
            .collect()
    }

    #[cache_put(self.get(user.id))]
    #[invalidate(USER_LISTS, cache = self.cache)]
    async fn update(&self, user: User) -> Result<User, String> {
        self.rows
            .lock()
            .expect("rows")
            .insert(user.id, user.clone());
        Ok(user)
    }

    #[invalidate(self.get(id), USER_LISTS, cache = self.cache)]
    async fn delete(&self, id: u64) -> Result<(), String> {
        self.rows
            .lock()
            .expect("rows")
            .remove(&id)
            .map(drop)
            .ok_or_else(|| "not found".into())
    }

    #[invalidate(self.get(..))]
    async fn forget_all_users(&self) {}
}

fn renamed(id: u64, name: &str) -> User {
    User {
        id,
        name: name.into(),
    }
}

#[tokio::test]
async fn write_through_makes_the_next_read_a_hit_with_the_new_value() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    assert_eq!(users.get(1).await, Ok(renamed(1, "user-1")));
    assert_eq!(users.get(1).await, Ok(renamed(1, "user-1")));
    assert_eq!(users.reads.load(SeqCst), 1);

    users.update(renamed(1, "ada")).await.expect("updated");
    assert_eq!(
        users.get(1).await,
        Ok(renamed(1, "ada")),
        "the written value"
    );
    assert_eq!(
        users.reads.load(SeqCst),
        1,
        "read from the cache, not the database"
    );
}

#[tokio::test]
async fn a_failed_write_leaves_the_entry_alone() {
    #[cache_put(get_number(n))]
    async fn set_number(n: u32, fail: bool) -> Result<u32, String> {
        if fail { Err("no".into()) } else { Ok(n * 100) }
    }
    #[cached(ttl = 60, cache = CACHE.get().expect("set below"))]
    async fn get_number(n: u32) -> Result<u32, String> {
        Ok(n)
    }
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let server = RedisServer::start();
    CACHE
        .set(
            patient(CacheConfig::redis(server.url()))
                .build()
                .expect("valid"),
        )
        .expect("first");
    assert_eq!(get_number(3).await, Ok(3));
    assert!(set_number(3, true).await.is_err());
    assert_eq!(get_number(3).await, Ok(3), "an Err is not written through");
    set_number(3, false).await.expect("ok");
    assert_eq!(get_number(3).await, Ok(300));
    assert!(get_number_entry(&3).key().is_some());
}

#[tokio::test]
async fn delete_invalidates_the_entry_and_the_group() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    users.get(2).await.expect("exists");
    users.page(0).await;
    users.page(1).await;
    users.page(1).await;
    assert_eq!(users.list_reads.load(SeqCst), 2);

    users.delete(2).await.expect("deleted");
    assert_eq!(users.get(2).await, Err("not found".into()), "no stale read");
    assert_eq!(users.reads.load(SeqCst), 2);
    let page = users.page(0).await;
    assert!(
        page.iter().all(|u| u.id != 2),
        "list pages are fresh: {page:?}"
    );
    assert_eq!(users.list_reads.load(SeqCst), 3);
}

#[tokio::test]
async fn a_failed_delete_invalidates_nothing() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    users.get(1).await.expect("exists");
    assert!(users.delete(42).await.is_err());
    users.get(1).await.expect("exists");
    assert_eq!(users.reads.load(SeqCst), 1);
    assert_eq!(users.cache.stats().invalidations, 0);
}

#[tokio::test]
async fn group_invalidation_touches_nothing_else() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    let neighbours = Users::new(&server, "other");
    for id in 1..=3 {
        users.get(id).await.expect("exists");
        neighbours.get(id).await.expect("exists");
    }
    for page in 0..3 {
        users.page(page).await;
        neighbours.page(page).await;
    }
    assert_eq!(server.entry_keys("t:*").len(), 6);
    assert_eq!(server.entry_keys("other:*").len(), 6);

    users.update(renamed(3, "carol")).await.expect("updated");

    let left: Vec<String> = server.entry_keys("t:*");
    assert_eq!(left.len(), 3, "only the three user entries stay: {left:?}");
    assert!(
        left.iter().all(|key| key.starts_with("t:user:")),
        "{left:?}"
    );
    assert_eq!(
        server.entry_keys("other:*").len(),
        6,
        "another namespace is untouched"
    );
}

#[tokio::test]
async fn a_function_wide_invalidation_removes_every_entry_of_that_function_only() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    for id in 1..=5 {
        users.get(id).await.expect("exists");
    }
    users.page(0).await;
    users.forget_all_users().await;
    let left = server.entry_keys("t:*");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("t:users:"));
    users.get(1).await.expect("exists");
    assert_eq!(users.reads.load(SeqCst), 6);
}

#[tokio::test]
async fn companions_expose_keys_invalidation_and_put() {
    let server = RedisServer::start();
    let users = Users::new(&server, "t");
    users.get(4).await.expect("exists");
    let entry = users.get_entry(&4);
    let key = entry.key().expect("encodable").to_string();
    assert_eq!(server.entry_keys("t:user:*"), [key]);

    entry.put(&renamed(4, "dora")).await;
    assert_eq!(users.get(4).await, Ok(renamed(4, "dora")));
    entry.invalidate().await;
    assert!(server.entry_keys("t:user:*").is_empty());
    users.page_entries().invalidate().await;
    USER_LISTS.name();
}

#[tokio::test]
async fn an_invalidation_during_an_outage_is_applied_once_redis_answers() {
    let server = RedisServer::start();
    // The default deadline, 50 ms: far below the pause below.
    let users = Users::with_cache(
        CacheConfig::redis(server.url())
            .namespace("t")
            .build()
            .expect("valid"),
    );
    users.get(5).await.expect("exists");

    // Writes are frozen (reads still work) for 1.5 s: the DEL times out.
    let mut admin = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("admin");
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("WRITE")
        .query_async::<()>(&mut admin)
        .await
        .expect("pause");
    users.delete(5).await.expect("deleted from the database");
    let stats = users.cache.stats();
    assert_eq!(
        stats.invalidations_queued, 2,
        "entry and group queued: {stats:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while users.cache.stats().invalidations < 2 {
        assert!(
            Instant::now() < deadline,
            "never retried: {:?}",
            users.cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        users.get(5).await,
        Err("not found".into()),
        "no stale read after recovery"
    );
}
