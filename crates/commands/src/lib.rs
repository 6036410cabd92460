//! The command table as data, and what can be derived from it.
//!
//! Every command Shoal serves has one entry in `table` (name, arity, flags,
//! key specs, ACL categories, documentation). The dispatcher, COMMAND
//! INFO/DOCS/GETKEYS, key extraction for shard locking and hash slots all
//! come from here. The server binds a handler to each entry; a test fails
//! when an entry has no handler or a handler has no entry.

pub mod keys;
pub mod registry;
pub mod reply;
pub mod slot;
pub mod spec;
pub mod table;

pub use keys::{find_keys, KeyRef, KeysError};
pub use registry::{table, AclCategories, Command, CommandFlags, CommandId, KeyFlags, Table};
pub use slot::{slot_of, Slot, SLOT_COUNT};
