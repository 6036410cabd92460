//! Persistence formats: Redis-compatible RDB snapshots.
//!
//! `rdb` encodes and decodes values and files in RDB version 10, the
//! version Redis 7.0 writes and reads, so Shoal and Redis 7.0 load each
//! other's snapshots and DUMP payloads.

pub mod rdb;
