//! The Lua scripts of the lease protocol (see `crate::lease`) and of index
//! invalidation, each run atomically by Redis. Every lease script names one key;
//! [`CLEAR_INDEX`] also deletes the entries its index lists, which Redis Cluster
//! would refuse unless they share the index's slot (the cluster key layout is not
//! built yet).
//!
//! They are sent with `EVAL`: Redis caches a script by its digest after the first
//! call, and unlike `EVALSHA` a restarted or failed-over server needs no reload.
//! Offsets follow the envelope header (`crate::envelope`): byte 2 holds the flags,
//! bytes 16-23 the lease token.

/// Takes the lease on an empty key, or returns what the key holds.
///
/// `KEYS[1]` the entry, `ARGV[1]` the placeholder, `ARGV[2]` the lease time in ms,
/// `ARGV[3]` the longest entry a reader accepts. Replies nil when the lease was
/// granted, an empty string when the key holds something no reader can use (another
/// Redis type, or a string longer than the limit, which is not sent), else the
/// entry's bytes.
pub(super) const ACQUIRE: &str = r"
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[3]) then return '' end
  return redis.call('GET', KEYS[1])
end
if kind ~= 'none' then return '' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// Writes a value only while the caller's lease is in place; the write replaces the
/// lease. An invalidation deletes the entry and a write-through overwrites it, and
/// either way the token is gone, so a value loaded before them is dropped.
///
/// `KEYS[1]` the entry, `ARGV[1]` the token, `ARGV[2]` the envelope, `ARGV[3]` the
/// TTL in ms. Replies 1 when written, 0 when the lease was lost.
pub(super) const FILL: &str = r"
if redis.call('GETRANGE', KEYS[1], 16, 23) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Gives a lease back: deletes a placeholder, or clears the lease on a value being
/// refreshed (its TTL is kept). Does nothing if the lease is no longer the caller's.
///
/// `KEYS[1]` the entry, `ARGV[1]` the token. Replies 1 if the lease was still the
/// caller's (nothing revoked it), else 0.
pub(super) const RELEASE: &str = r"
if redis.call('GETRANGE', KEYS[1], 16, 23) ~= ARGV[1] then return 0 end
if redis.call('GETRANGE', KEYS[1], 2, 2) == '\3' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SETRANGE', KEYS[1], 2, '\0')
  redis.call('SETRANGE', KEYS[1], 16, '\0\0\0\0\0\0\0\0')
end
return 1
";

/// Replaces a dead placeholder (see `crate::envelope::placeholder_dead`) with the
/// caller's, only if the key still holds exactly the placeholder the caller judged.
///
/// `KEYS[1]` the entry, `ARGV[1]` the placeholder found, `ARGV[2]` the caller's,
/// `ARGV[3]` the lease time in ms. Replies 1 when taken over.
pub(super) const TAKE_OVER: &str = r"
local current = redis.pcall('GET', KEYS[1])
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Deletes up to `ARGV[1]` of the entries an index lists, then removes them from the
/// index, in one atomic step. Atomic, so that no invalidation can find the index
/// empty while entries it listed still exist (a concurrent invalidation of the same
/// index returns only once they are gone), and in this order, so that a refused
/// delete (an ACL, say) leaves the index intact for the retry: Redis does not roll a
/// script back when a command in it fails.
///
/// `KEYS[1]` the index. Replies how many entries it removed; fewer than the batch
/// size means the index is now empty. A value of another type under the index's
/// name lists nothing (and is replaced by the next write, see [`INDEX`]).
pub(super) const CLEAR_INDEX: &str = r"
if redis.call('TYPE', KEYS[1])['ok'] ~= 'zset' then return 0 end
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #members == 0 then return 0 end
redis.call('UNLINK', unpack(members))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #members - 1)
return #members
";

/// Takes the lease on a stored value to refresh it, if the entry still holds the
/// value the caller read, unleased. The value stays readable, and its TTL is kept.
///
/// `KEYS[1]` the entry, `ARGV[1]` the first 12 header bytes the caller read (format,
/// codec, flags 0, reserved, write time), `ARGV[2]` the token. Replies 1 when taken.
pub(super) const LEASE_VALUE: &str = r"
if redis.call('GETRANGE', KEYS[1], 0, 11) ~= ARGV[1] then return 0 end
redis.call('SETRANGE', KEYS[1], 16, ARGV[2])
redis.call('SETRANGE', KEYS[1], 2, '\1')
return 1
";

/// Records an entry key in an index: a sorted set of entry keys scored by expiry
/// time. Drops members that have expired, and makes the index live as long as its
/// longest-lived member. A value of another type under the index's name (written by
/// something else) would make every write of the function fail, so it is replaced,
/// in the same atomic step, so that no key recorded meanwhile is lost with it.
///
/// `KEYS[1]` the index, `ARGV[1]` the entry's expiry (Unix ms), `ARGV[2]` the entry
/// key, `ARGV[3]` now (Unix ms), `ARGV[4]` the entry's TTL in ms. Replies 1 when a
/// foreign value was replaced, else 0.
pub(super) const INDEX: &str = r"
local kind = redis.call('TYPE', KEYS[1])['ok']
local replaced = 0
if kind ~= 'zset' and kind ~= 'none' then
  redis.call('UNLINK', KEYS[1])
  replaced = 1
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'NX')
redis.call('PEXPIRE', KEYS[1], ARGV[4], 'GT')
return replaced
";
