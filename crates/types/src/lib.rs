//! Shoal's data structures: pure, single-threaded, no I/O.
//!
//! The keyspace and the large collection encodings sit on `table`
//! (`ScanTable`, a Robin Hood hash table that supports Redis's SCAN
//! guarantee); `value` holds what a key stores; `glob` is Redis's pattern
//! matcher; `longdouble` is INCRBYFLOAT's arithmetic; `bitmap` and
//! `hyperloglog` work on string bytes for the bit and HyperLogLog commands.

pub mod bitmap;
pub mod bytebuf;
pub mod collection;
pub mod glob;
pub mod hash;
pub mod hyperloglog;
pub mod list;
pub mod longdouble;
pub mod packed;
pub mod prefetch;
pub mod set;
pub mod siphash;
pub mod stream;
pub mod table;
pub mod value;
pub mod varint;
pub mod zset;

pub use glob::glob_match;
pub use packed::PackedVec;
pub use siphash::hash_bytes;
pub use table::{ScanTable, TableItem};
/// The buffer of raw strings (`Value::Raw`), for code that builds one.
pub use bytebuf::ByteBuf;
pub use value::{Collection, Value, ValueType};
