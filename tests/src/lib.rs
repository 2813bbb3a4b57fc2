//! Test support for cache-runtime: throwaway `redis-server` processes, and a gate to
//! hold a function's body where a test wants it.
//!
//! Tests that need Redis start their own server with [`RedisServer::start`], on a
//! free loopback port, in a temporary directory, with persistence off. They never use
//! a Redis that happens to run on the machine. When `redis-server` is not installed,
//! starting one panics with instructions: such a test fails, it never skips.
//!
//! [`TlsRedisServer`] (TLS only, with certificates generated for the test) and
//! [`AclRedisServer`] (an ACL user with a password, the `default` user off) start
//! servers that need credentials.
//!
//! Tests that count body runs, hits or writes build their caches with [`patient`]
//! deadlines, so that a loaded machine cannot make a cache operation fail open.

#![deny(missing_docs)]

pub mod bench_args;
mod child;
pub mod fault_proxy;
mod gate;
mod patient;
mod redis_server;
mod rows;
mod secure_server;
mod wait;

pub use child::run_child_test;
pub use fault_proxy::FaultProxy;
pub use gate::Gate;
pub use patient::{PATIENT_TIMEOUT, patient};
pub use redis_server::{RedisServer, free_port};
pub use rows::Rows;
pub use secure_server::{AclRedisServer, TestCertificates, TlsRedisServer};
pub use wait::yield_until_stats;
