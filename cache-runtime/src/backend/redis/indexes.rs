//! Recording entry keys in their indexes (a function's, and each group's), in the
//! same round trip as the write of the entry.
//!
//! An index is a sorted set of entry keys scored by expiry time. If something else
//! is stored under an index's name, Redis answers the index commands with
//! `WRONGTYPE`: the foreign key is then removed and the entry recorded again, so
//! that one bad key cannot stop a function from being cached. An entry whose key
//! could not be recorded is reported as a failed write, since invalidating its
//! function or group would not find it.

use redis::{FromRedisValue, Value};

use super::RedisBackend;
use crate::backend::BackendError;
use crate::envelope::unix_millis;
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

impl RedisBackend {
    /// Runs `write` (which names `key`) after recording `key` in `indexes`, in one
    /// round trip, and returns `write`'s reply.
    pub(super) async fn indexed<T: FromRedisValue>(
        &self,
        key: &CacheKey,
        ttl: Ttl,
        indexes: &[IndexKey],
        write: redis::Cmd,
    ) -> Result<T, BackendError> {
        let mut connection = self.connection()?;
        if indexes.is_empty() {
            return self
                .within_deadline(write.query_async(&mut connection))
                .await;
        }
        let mut pipe = redis::pipe();
        add_to_indexes(&mut pipe, key, ttl, indexes);
        // Each reply, errors included, so that a failed index command does not hide
        // the write's own reply.
        pipe.add_command(write).ignore_errors();
        let mut replies: Vec<Value> = self
            .within_deadline(pipe.query_async(&mut connection))
            .await?;
        let reply = replies.pop().unwrap_or(Value::Nil);
        let index_error = replies.into_iter().find_map(|reply| match reply {
            Value::ServerError(err) => Some(err),
            _ => None,
        });
        match index_error {
            None => {}
            Some(err) if err.code() == "WRONGTYPE" => {
                self.replace_foreign_indexes(key, ttl, indexes).await?;
            }
            Some(err) => return Err(BackendError::Redis(err.into())),
        }
        let reply = reply.extract_error().map_err(BackendError::Redis)?;
        redis::from_redis_value(reply).map_err(|err| BackendError::Redis(err.into()))
    }

    /// Removes the keys in `indexes` that hold something other than a sorted set,
    /// then records `key` in `indexes` again.
    async fn replace_foreign_indexes(
        &self,
        key: &CacheKey,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> Result<(), BackendError> {
        let mut connection = self.connection()?;
        let mut types = redis::pipe();
        for index in indexes {
            types.cmd("TYPE").arg(index.as_str());
        }
        let kinds: Vec<String> = self
            .within_deadline(types.query_async(&mut connection))
            .await?;
        let foreign: Vec<&str> = (indexes.iter().zip(&kinds))
            .filter(|(_, kind)| !matches!(kind.as_str(), "zset" | "none"))
            .map(|(index, _)| index.as_str())
            .collect();
        tracing::warn!(
            target: "cache_runtime",
            keys = ?foreign,
            "removing values of another type stored under index names"
        );
        let mut again = redis::pipe();
        if !foreign.is_empty() {
            again.cmd("UNLINK").arg(&foreign);
        }
        add_to_indexes(&mut again, key, ttl, indexes);
        self.within_deadline(again.query_async::<()>(&mut connection))
            .await
    }
}

/// Queues the commands that record `key` in each index: a sorted set scored by
/// expiry time. `ZADD`, then `ZREMRANGEBYSCORE` drops members that have expired, and
/// `PEXPIRE .. NX` plus `PEXPIRE .. GT` make the index live as long as its
/// longest-lived member. Each command names one key, so the pipeline works unchanged
/// on Redis Cluster. Their replies are not kept, but their errors are checked.
fn add_to_indexes(pipe: &mut redis::Pipeline, key: &CacheKey, ttl: Ttl, indexes: &[IndexKey]) {
    let now = unix_millis();
    let expires = now.saturating_add(ttl.as_millis());
    for index in indexes {
        let index = index.as_str();
        pipe.cmd("ZADD").arg(index).arg(expires).arg(key.as_str());
        pipe.cmd("ZREMRANGEBYSCORE").arg(index).arg("-inf").arg(now);
        for condition in ["NX", "GT"] {
            pipe.cmd("PEXPIRE")
                .arg(index)
                .arg(ttl.as_millis())
                .arg(condition);
        }
    }
}
