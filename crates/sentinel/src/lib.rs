//! Shoal's Sentinel: the decision logic of Redis Sentinel as a pure state machine.
//!
//! A [`Sentinel`] never opens a socket, reads a clock or draws a random number. The driver
//! (the network code in production, the seeded simulator in `tests/simulation`) hands it the
//! time and some entropy with every input — a timer tick, a link that came up or went down,
//! a reply, a hello message, a question from another sentinel — and carries out the
//! [`Action`]s it returns: open or close a link, send a command, publish an event, run a
//! script, persist the configuration. Because the whole behaviour is a function of its
//! inputs, a simulation can run many sentinels and data nodes in one thread and replay any
//! run exactly from its seed.
//!
//! The behaviour follows Redis 7.0's sentinel (subjective and objective down, leader election
//! by majority once per epoch, the failover states, replica selection, parallel-syncs,
//! failover-timeout, TILT and the events it publishes); ARCHITECTURE.md lists where it
//! deliberately differs.

mod addr;
mod config;
mod hello;
mod info;
mod machine;
mod types;

pub use config::{ConfigError, MasterConfig, SentinelConfig};
pub use hello::Hello;
pub use info::{InfoReport, ReportedRole};
pub use machine::{
    splitmix64, FailoverProgress, Field, Fields, MasterOption, Persisted, PersistedMaster, QuorumCheck, Sentinel,
    SentinelOptions,
};
pub use types::{
    Action, Addr, Command, Event, FailoverState, Input, IsMasterDownReply, Level, LinkId, Millis, ReconfigRole, Reply,
    Timing,
};
