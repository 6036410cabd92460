//! Persistence formats: Redis-compatible RDB snapshots.
//!
//! `rdb` encodes the keyspace in RDB version 10, the version Redis 7.0
//! writes and reads, so a Redis 7.0 replica can load Shoal's snapshots.

pub mod rdb;
