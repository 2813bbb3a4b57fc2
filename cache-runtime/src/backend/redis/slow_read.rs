//! A read that ran out of time: is Redis slow, or is one value too large to arrive?
//!
//! Reads are cut at the longest entry plus one byte, and the default limit crosses a
//! network in a fraction of the deadline, so a read normally runs out of time only
//! when Redis or the connection is slow: a failure of the endpoint, which its
//! circuit breaker counts. But with a limit set higher than the link carries within
//! the deadline, one large value times out its own reads, and delays the replies
//! queued behind it on the multiplexed connection, while Redis is fine. Counted as
//! failures, those timeouts would open the breaker and turn every healthy key into a
//! miss; and since a call whose read failed writes nothing, the value would stay.
//!
//! So a read that ran out of time is followed, on the same connection and under a
//! deadline of its own, by a script that answers the value's length and removes the
//! value if it is over the limit ([`LENGTH_OR_REMOVE`]). Two things follow:
//!
//! - Redis runs the script as soon as it arrives, while the late reply is still
//!   crossing: an oversized value is gone even if the reply never makes it in time,
//!   and the next call stores a real one.
//! - Redis answers a connection in order, so the length arrives only after the late
//!   read has crossed. In time, it shows that Redis and the connection work and the
//!   key was the problem: the read is recorded as answered, not as a failure of the
//!   endpoint. A Redis that is stalled, blackholed or slower than the deadline does
//!   not answer in time either, and the read counts as the failure it is.
//!
//! The follow-up costs the caller at most one more deadline, and only after a read
//! ran out of time; a hit never pays for it.

use redis::aio::ConnectionManager;

use super::{RedisBackend, script};
use crate::backend::BackendError;
use crate::backend::breaker::Permit;
use crate::key::CacheKey;

/// Answers the length of the string under the key, and removes it if that is more
/// than the longest entry a reader accepts. A key of another type is an error reply.
///
/// `KEYS[1]` the entry, `ARGV[1]` the longest entry a reader accepts.
const LENGTH_OR_REMOVE: &str = r"
local length = redis.call('STRLEN', KEYS[1])
if length > tonumber(ARGV[1]) then redis.call('UNLINK', KEYS[1]) end
return length
";

impl RedisBackend {
    /// After the read of `key`, admitted with `permit`, ran out of time: runs the
    /// follow-up (see the module documentation), records the read for the breaker by
    /// the follow-up's outcome, and returns the read's error.
    pub(super) async fn read_timed_out(
        &self,
        key: &CacheKey,
        connection: &mut ConnectionManager,
        permit: Permit<'_>,
    ) -> BackendError {
        let mut follow_up = script(LENGTH_OR_REMOVE, key.as_str());
        follow_up.arg(self.max_entry_bytes);
        let answer = follow_up.query_async::<u64>(connection);
        let length = match tokio::time::timeout(self.deadline, answer).await {
            Ok(answer) => answer.map_err(BackendError::from),
            Err(_) => Err(BackendError::Timeout(self.deadline)),
        };
        // An answer, even an error reply, says the endpoint works; a timeout or a
        // broken connection says it does not.
        self.breaker.record(permit, &length);
        if let Ok(length) = length
            && usize::try_from(length).map_or(true, |length| length > self.max_entry_bytes)
        {
            tracing::warn!(
                target: "cache_runtime",
                key = %key,
                length,
                limit = self.max_entry_bytes,
                deadline = ?self.deadline,
                "removed a stored value over the size limit that did not arrive within the deadline"
            );
        }
        BackendError::Timeout(self.deadline)
    }
}
