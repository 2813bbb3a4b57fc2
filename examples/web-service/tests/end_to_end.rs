//! The web service end to end: the real binary, a real `redis-server` started by the
//! harness, and a fresh SQLite file, driven over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cache_tests::RedisServer;
use serde_json::{Value, json};

/// The running service, stopped when dropped.
struct Service {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Service {
    fn start(redis_url: &str, database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_web-service"))
            .env("REDIS_URL", redis_url)
            .env("DATABASE_URL", database_url)
            .env("BIND", "127.0.0.1:0")
            .env("CACHE_NAMESPACE", "e2e")
            // The test counts database reads and hits: a patient deadline, so that a
            // loaded machine cannot make a cache operation fail open.
            .env("CACHE_TIMEOUT_MS", "2000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the web-service binary");
        let stdout = child.stdout.take().expect("piped stdout");
        // From here on the process is stopped on drop, even if this panics.
        let mut service = Self {
            child,
            base: String::new(),
            http: reqwest::Client::new(),
        };
        // The service prints its address once it listens: wait for that line.
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the service's first line");
        // Keep reading, so the service never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        service.base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        service
    }
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Option<String>, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request answered");
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, cache, value)
    }

    async fn db_reads(&self) -> u64 {
        let (_, _, stats) = self.send(reqwest::Method::GET, "/stats", None).await;
        stats["db_reads"].as_u64().expect("db_reads")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_cached_and_writes_are_visible_immediately() {
    use reqwest::Method;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("items.sqlite").display()
    );
    let service = Service::start(&redis.url(), &database);

    let (status, _, created) = service
        .send(
            Method::POST,
            "/items",
            Some(json!({"name": "lamp", "price_cents": 1999})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    let item_path = format!("/items/{id}");

    // Repeated reads query the database once.
    let (status, cache, first) = service.send(Method::GET, &item_path, None).await;
    assert_eq!((status, cache.as_deref()), (200, Some("miss")));
    assert_eq!(first["name"], "lamp");
    for _ in 0..3 {
        let (status, cache, again) = service.send(Method::GET, &item_path, None).await;
        assert_eq!((status, cache.as_deref()), (200, Some("hit")));
        assert_eq!(again, first);
    }
    assert_eq!(service.db_reads().await, 1);

    // Write-through: the update is the next read's value, served from the cache.
    let (status, _, updated) = service
        .send(
            Method::PUT,
            &item_path,
            Some(json!({"name": "desk lamp", "price_cents": 2499})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    let (status, cache, read) = service.send(Method::GET, &item_path, None).await;
    assert_eq!((status, cache.as_deref()), (200, Some("hit")));
    assert_eq!(read["name"], "desk lamp");
    assert_eq!(read["price_cents"], 2499);
    assert_eq!(service.db_reads().await, 1, "write-through, not a re-read");

    // List pages are fresh after every write.
    let (_, cache, page) = service.send(Method::GET, "/items?page=0", None).await;
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    let (_, cache, _) = service.send(Method::GET, "/items?page=0", None).await;
    assert_eq!(cache.as_deref(), Some("hit"));
    service
        .send(
            Method::POST,
            "/items",
            Some(json!({"name": "chair", "price_cents": 4999})),
        )
        .await;
    let (_, cache, page) = service.send(Method::GET, "/items?page=0", None).await;
    assert_eq!(
        cache.as_deref(),
        Some("miss"),
        "the create invalidated the list pages"
    );
    let names: Vec<&str> = page
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert_eq!(names, ["desk lamp", "chair"]);

    // A delete makes the next read a 404, and the list forgets the item.
    let (status, _, _) = service.send(Method::DELETE, &item_path, None).await;
    assert_eq!(status, 204);
    let (status, cache, _) = service.send(Method::GET, &item_path, None).await;
    assert_eq!((status, cache.as_deref()), (404, Some("miss")));
    let (_, _, page) = service.send(Method::GET, "/items?page=0", None).await;
    assert_eq!(page.as_array().map(Vec::len), Some(1));

    let (_, _, stats) = service.send(Method::GET, "/stats", None).await;
    assert_eq!(stats["cache"]["backend"], "Redis", "{stats}");
    assert_eq!(stats["cache"]["backend_errors"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_it_runs_on_the_memory_cache() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("items.sqlite").display()
    );
    let port = cache_tests::free_port();
    let service = Service::start(&format!("redis://127.0.0.1:{port}/0"), &database);

    let (status, _, created) = service
        .send(
            Method::POST,
            "/items",
            Some(json!({"name": "mug", "price_cents": 899})),
        )
        .await;
    assert_eq!(status, 201);
    let path = format!("/items/{}", created["id"]);
    let (_, first, _) = service.send(Method::GET, &path, None).await;
    let (_, second, _) = service.send(Method::GET, &path, None).await;
    assert_eq!(
        (first.as_deref(), second.as_deref()),
        (Some("miss"), Some("hit"))
    );
    let (_, _, stats) = service.send(Method::GET, "/stats", None).await;
    assert_eq!(stats["cache"]["backend"], "Memory", "{stats}");
}
