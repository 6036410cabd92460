//! Persistence formats: Redis-compatible RDB snapshots and the
//! append-only file.
//!
//! `rdb` encodes and decodes values and files in RDB version 10, the
//! version Redis 7.0 writes and reads, so Shoal and Redis 7.0 load each
//! other's snapshots and DUMP payloads. `aof` holds the append-only
//! file's formats and files (Redis 7.0's multi-part layout).

pub mod aof;
pub mod rdb;
