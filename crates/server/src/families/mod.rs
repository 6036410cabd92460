//! Command families, one file each; every file registers its handlers at
//! its bottom.

pub mod acl;
pub mod admin;
pub mod bitmaps;
pub mod connection;
pub mod digest;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod help;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod lists;
pub mod migrate;
pub mod persistence;
pub mod populate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

use crate::exec::Registrar;

/// Registers every family's handlers.
pub fn register_all(r: &mut Registrar) {
    acl::register(r);
    admin::register(r);
    bitmaps::register(r);
    connection::register(r);
    dump::register(r);
    geo::register(r);
    hashes::register(r);
    hyperloglog::register(r);
    info::register(r);
    keys::register(r);
    lists::register(r);
    migrate::register(r);
    persistence::register(r);
    pubsub::register(r);
    replication::register(r);
    scripting::register(r);
    sets::register(r);
    slowlog::register(r);
    sort::register(r);
    streams::register(r);
    streams::read::register(r);
    streams::groups::register(r);
    streams::info::register(r);
    strings::register(r);
    transactions::register(r);
    zsets::register(r);
    zsets::range::register(r);
    zsets::pop::register(r);
    zsets::setops::register(r);
}

