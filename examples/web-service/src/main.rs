//! An item service over a real database, cached in Redis.
//!
//! ```text
//! cargo run -p web-service
//! ```
//!
//! | variable | default |
//! |---|---|
//! | `DATABASE_URL` | `sqlite://items.sqlite?mode=rwc` (a file next to where it runs) |
//! | `REDIS_URL` | `redis://127.0.0.1:6379/0`; without a reachable Redis the in-memory cache is used |
//! | `BIND` | `127.0.0.1:3000` |
//!
//! Every response that reads through the cache carries `x-cache: hit` or
//! `x-cache: miss`; `GET /stats` shows database reads and cache counters.

mod error;
mod items;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cache_runtime::{BackendKind, Cache, CacheConfig, install};
use serde::Deserialize;
use sqlx::AnyPool;

use crate::error::AppError;
use crate::items::{NewItem, tracking_loads};

#[derive(Clone)]
struct App {
    db: AnyPool,
    db_reads: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://items.sqlite?mode=rwc".to_owned());
    sqlx::any::install_default_drivers();
    let db = AnyPool::connect(&database_url).await?;
    items::migrate(&db, database_url.starts_with("postgres")).await?;

    let cache = choose_cache().await;
    if install(cache).is_err() {
        tracing::warn!("a global cache was already installed");
    }

    let app = App {
        db,
        db_reads: Arc::default(),
    };
    let router = Router::new()
        .route("/items", get(list).post(create))
        .route("/items/{id}", get(read).put(update).delete(remove))
        .route("/stats", get(stats))
        .with_state(app);

    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    // The end-to-end test reads this line to learn the port.
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The cache from the environment when its Redis answers; the memory cache otherwise.
async fn choose_cache() -> Cache {
    let cache = Cache::from_env();
    if cache.backend() != BackendKind::Redis {
        return cache;
    }
    let health = cache.health().await;
    if health.healthy {
        tracing::info!(version = ?health.server_version, "caching in Redis");
        return cache;
    }
    tracing::warn!(
        error = health.error.as_deref().unwrap_or("no answer"),
        "no Redis reachable; caching in memory"
    );
    CacheConfig::memory()
        .namespace("web-service")
        .build()
        .unwrap_or_else(|_| Cache::memory())
}

/// Adds `x-cache` and counts database reads.
fn respond<T: serde::Serialize>(app: &App, result: Result<T, AppError>, loaded: bool) -> Response {
    if loaded {
        app.db_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let cache = if loaded { "miss" } else { "hit" };
    match result {
        Ok(value) => ([("x-cache", cache)], Json(value)).into_response(),
        Err(err) => {
            let mut response = err.into_response();
            if let Ok(value) = cache.parse() {
                response.headers_mut().insert("x-cache", value);
            }
            response
        }
    }
}

async fn read(State(app): State<App>, Path(id): Path<i64>) -> Response {
    let (result, loaded) = tracking_loads(items::get_item(&app.db, id)).await;
    respond(&app, result, loaded)
}

async fn list(State(app): State<App>, Query(query): Query<PageQuery>) -> Response {
    let page = query.page.unwrap_or(0);
    let (result, loaded) = tracking_loads(items::list_items(&app.db, page)).await;
    respond(&app, result, loaded)
}

async fn create(State(app): State<App>, Json(new): Json<NewItem>) -> Result<Response, AppError> {
    let item = items::create_item(&app.db, new).await?;
    Ok((StatusCode::CREATED, Json(item)).into_response())
}

async fn update(
    State(app): State<App>,
    Path(id): Path<i64>,
    Json(change): Json<NewItem>,
) -> Result<Response, AppError> {
    let item = items::update_item(&app.db, id, change).await?;
    Ok(Json(item).into_response())
}

async fn remove(State(app): State<App>, Path(id): Path<i64>) -> Result<StatusCode, AppError> {
    items::delete_item(&app.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(State(app): State<App>) -> Response {
    let cache = cache_runtime::global().stats();
    Json(serde_json::json!({
        "db_reads": app.db_reads.load(std::sync::atomic::Ordering::Relaxed),
        "cache": {
            "backend": format!("{:?}", cache_runtime::global().backend()),
            "hits": cache.hits,
            "misses": cache.misses,
            "writes": cache.writes,
            "invalidations": cache.invalidations,
            "backend_errors": cache.backend_errors,
        }
    }))
    .into_response()
}
