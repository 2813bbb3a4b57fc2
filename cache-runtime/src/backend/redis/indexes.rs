//! Recording entry keys in their indexes (a function's, and each group's), in the
//! same round trip as the write of the entry.
//!
//! Each index is updated by one script ([`scripts::INDEX`]) that names only the
//! index. The scripts run before
//! the write. A pipeline is not a transaction, though: the write runs even if an
//! index could not be updated, and an entry missing from its index would survive
//! the invalidation of its function or group. So such an entry is removed again,
//! and the write reported as failed.

use redis::{FromRedisValue, Value};

use super::{RedisBackend, script, scripts};
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
        let now = unix_millis();
        let mut pipe = redis::pipe();
        for index in indexes {
            let mut record = script(scripts::INDEX, index.as_str());
            (record
                .arg(now.saturating_add(ttl.as_millis()))
                .arg(key.as_str()))
            .arg(now)
            .arg(ttl.as_millis());
            pipe.add_command(record);
        }
        // Every reply, errors included, so that a failed index does not hide the
        // write's own reply.
        pipe.add_command(write).ignore_errors();
        let mut replies: Vec<Value> = self
            .within_deadline(pipe.query_async(&mut connection))
            .await?;
        let reply = replies.pop();
        let Some(reply) = reply.filter(|_| replies.len() == indexes.len()) else {
            return Err(BackendError::Redis(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected number of replies to an indexed write",
            ))));
        };
        for (index, recorded) in indexes.iter().zip(replies) {
            match recorded {
                Value::Int(1) => tracing::warn!(
                    target: "cache_runtime",
                    index = index.as_str(),
                    "replaced a value of another type stored under an index name"
                ),
                Value::ServerError(err) => {
                    self.unindexed(key).await;
                    return Err(BackendError::Redis(err.into()));
                }
                _ => {}
            }
        }
        let reply = reply.extract_error().map_err(BackendError::Redis)?;
        redis::from_redis_value(reply).map_err(|err| BackendError::Redis(err.into()))
    }

    /// Removes the entry `key`, written but missing from an index. Best effort: if
    /// this fails too, the entry lives until its TTL.
    async fn unindexed(&self, key: &CacheKey) {
        if let Err(err) = self.delete(key).await {
            tracing::warn!(
                target: "cache_runtime",
                key = %key,
                error = %err,
                "an entry missing from its index could not be removed; it expires with its TTL"
            );
        }
    }
}
