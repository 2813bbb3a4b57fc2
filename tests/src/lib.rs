//! Test support for cache-runtime: throwaway `redis-server` processes, and a gate to
//! hold a function's body where a test wants it.
//!
//! Tests that need Redis start their own server with [`RedisServer::start`], on a
//! free loopback port, in a temporary directory, with persistence off. They never use
//! a Redis that happens to run on the machine. When `redis-server` is not installed,
//! starting one panics with instructions: such a test fails, it never skips.

#![deny(missing_docs)]

pub mod bench_args;
mod gate;
mod redis_server;

pub use gate::Gate;
pub use redis_server::{RedisServer, free_port};
