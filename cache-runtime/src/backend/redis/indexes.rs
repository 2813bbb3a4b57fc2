//! Recording entry keys in their indexes (a function's, and each group's), in the
//! same round trip as the write of the entry.
//!
//! Each index is updated by one script ([`scripts::INDEX`]) that names only the
//! index. A pipeline is not a transaction: an invalidation of the index
//! ([`scripts::CLEAR_INDEX`]) can run between a recording and the write. Had the key
//! been recorded only before the write, such an invalidation would unlist it and then
//! the write would store an entry no later invalidation can reach. So the key is
//! recorded *after* the write, where a clear in between finds nothing to miss: a
//! placeholder stored before it was read by no one yet (its holder loads after the
//! reply), and a fill lands only on a placeholder that was listed since. An
//! unconditional write is recorded *before* it as well, so that a clear between the
//! write and the recording after it still finds and deletes the value.
//!
//! A write runs even if an index could not be updated, and an entry missing from its
//! index would survive the invalidation of its function or group. So such an entry
//! is removed again, and the write reported as failed.

use redis::{FromRedisValue, Value};

use super::{RedisBackend, script, scripts};
use crate::backend::BackendError;
use crate::envelope::unix_millis;
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

/// When a write records its key in the indexes (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recording {
    /// After the write: for placeholders and fills of a placeholder.
    After,
    /// Before and after the write: for unconditional writes.
    Around,
}

impl RedisBackend {
    /// Runs `write` (which names `key`) and records `key` in `indexes` as `recording`
    /// says, in one round trip, and returns `write`'s reply.
    pub(super) async fn indexed<T: FromRedisValue>(
        &self,
        key: &CacheKey,
        ttl: Ttl,
        indexes: &[IndexKey],
        recording: Recording,
        write: redis::Cmd,
    ) -> Result<T, BackendError> {
        let mut connection = self.connection()?;
        if indexes.is_empty() {
            return self
                .within_deadline(write.query_async(&mut connection))
                .await;
        }
        let now = unix_millis();
        let record = |pipe: &mut redis::Pipeline| {
            for index in indexes {
                let mut record = script(scripts::INDEX, index.as_str());
                (record
                    .arg(now.saturating_add(ttl.as_millis()))
                    .arg(key.as_str()))
                .arg(now)
                .arg(ttl.as_millis());
                pipe.add_command(record);
            }
        };
        let mut pipe = redis::pipe();
        // Every reply, errors included, so that a failed index does not hide the
        // write's own reply.
        pipe.ignore_errors();
        let before = if recording == Recording::Around {
            record(&mut pipe);
            indexes.len()
        } else {
            0
        };
        pipe.add_command(write);
        record(&mut pipe);
        let mut replies: Vec<Value> = self
            .within_deadline(pipe.query_async(&mut connection))
            .await?;
        if replies.len() != before + 1 + indexes.len() {
            return Err(BackendError::Redis(redis::RedisError::from((
                redis::ErrorKind::Client,
                "unexpected number of replies to an indexed write",
            ))));
        }
        let reply = replies.remove(before);
        let recorded = indexes.iter().cycle().zip(replies);
        for (index, recorded) in recorded {
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
