//! The append-only file as files: Redis 7.0's multi-part layout and the
//! command format, without the server's part (what to append, when to
//! sync, rewriting), which builds on this.
//!
//! - `manifest`: the manifest of `appenddirname` (base, incr and history
//!   files), its names, parsing with Redis's checks, atomic replacement,
//!   and the changes a new incr file or a finished rewrite make; `dir`
//!   applies those to the directory all or nothing.
//! - `parse` / `reader`: commands read back from a file incrementally,
//!   telling a truncated tail from corruption, skipping `#TS:`
//!   annotations, and spotting an RDB preamble.
//! - `encode`: commands written out (multibulk, SELECT, annotations).
//! - `rewrite`: a dataset as the commands that rebuild it (the base a
//!   rewrite writes without an RDB preamble).
//! - `disk`: the filesystem behind a trait; `FaultDisk` injects faults and
//!   crashes for tests.
//! - `check`: the `shoal-check-aof` tool.

pub mod check;
mod dir;
pub mod disk;
pub mod encode;
pub mod manifest;
pub mod parse;
pub mod reader;
pub mod rewrite;

pub use disk::{AppendFile, Disk, FaultDisk, RealDisk};
pub use encode::{encode_command, AofEncoder};
pub use manifest::{AofFile, FileKind, Manifest, ManifestError};
pub use reader::{AofReader, Entry, ReadError};
