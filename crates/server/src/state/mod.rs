//! Plain state the `Server` hub and the clients hold: data and the methods
//! that need nothing else. Behaviour that needs the whole server lives in
//! the modules above (`crate::outbox`, `crate::pubsub`, ...), so the
//! server's definition imports none of them.

pub mod acl;
pub mod aof;
pub mod channels;
pub mod master;
pub mod migrate;
pub mod monitors;
pub mod net;
pub mod outbox;
pub mod persistence;
pub mod pubsub;
pub mod replicas;
pub mod scripts;
pub mod sentinel;
pub mod session;
pub mod slowlog;
pub mod tracking;
pub mod users;
