//! Keyspace events: what a write did to a key, in Redis's classes and
//! names (`notify-keyspace-events`).
//!
//! A unit records an event when it changes a key (`Tx::changed`,
//! `Tx::notify_in`), and the engine's lazy and active expiry record
//! `expired`. The unit hands its events to the installed `EventSink` when
//! it ends, still holding its shard locks, so the events of one key are
//! delivered in the order the key changed. Nothing is recorded while no
//! class is enabled.

/// Classes of events (the letters of notify-keyspace-events).
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
    /// (letter, flag) in Redis's printing order after 'A'.
    pub const CLASSES: &[(char, u32)] = &[
        ('g', GENERIC),
        ('$', STRING),
        ('l', LIST),
        ('s', SET),
        ('h', HASH),
        ('z', ZSET),
        ('x', EXPIRED),
        ('e', EVICTED),
        ('t', STREAM),
        ('d', MODULE),
        ('n', NEW),
    ];
}

/// One kind of event: its class and the name subscribers see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub class: u32,
    pub name: &'static str,
}

impl Event {
    pub const fn new(class: u32, name: &'static str) -> Event {
        Event { class, name }
    }
}

/// An event that happened to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub event: Event,
    pub db: usize,
    pub key: Vec<u8>,
}

/// Receives the events of each unit (the server publishes them on the
/// `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` channels).
pub trait EventSink: Send + Sync {
    fn deliver(&self, events: &[KeyEvent]);

    /// Sends the client-side caching invalidations of the keys the unit
    /// changed (`Tx::invalidated`) that its caller did not send itself
    /// (the active expiry cycle's units, for instance).
    fn invalidate(&self, tx: &mut crate::Tx<'_>);
}

/// Events the engine itself emits; command families name their own.
pub const NEW: Event = Event::new(class::NEW, "new");
pub const EXPIRED: Event = Event::new(class::EXPIRED, "expired");
pub const DEL: Event = Event::new(class::GENERIC, "del");
