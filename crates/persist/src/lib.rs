//! Persistence formats: Redis-compatible RDB snapshots and the
//! append-only file.
//!
//! `rdb` encodes the keyspace in RDB version 10, the version Redis 7.0
//! writes and reads, so a Redis 7.0 replica can load Shoal's snapshots.
//! `aof` holds the append-only file's formats and files (Redis 7.0's
//! multi-part layout).

pub mod aof;
pub mod rdb;
