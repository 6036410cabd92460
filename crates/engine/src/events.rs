//! Keyspace events: what a write did to a key, in Redis's classes and
//! names (`notify-keyspace-events`).
//!
//! A unit records an event when it changes a key (`Tx::changed`,
//! `Tx::notify_in`), and the engine's lazy and active expiry record
//! `expired`, eviction `evicted` and read lookups that miss `keymiss`. The unit hands its events to the installed `EventSink` when
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

/// Events the engine itself emits.
pub const NEW: Event = Event::new(class::NEW, "new");
pub const EXPIRED: Event = Event::new(class::EXPIRED, "expired");
pub const EVICTED: Event = Event::new(class::EVICTED, "evicted");
/// A read lookup of a key that does not exist (class `m`).
pub const KEYMISS: Event = Event::new(class::KEY_MISS, "keymiss");

// The events of commands, by class, named as Redis 7.0 names them.

// Generic.
pub const DEL: Event = Event::new(class::GENERIC, "del");
pub const EXPIRE: Event = Event::new(class::GENERIC, "expire");
pub const PERSIST: Event = Event::new(class::GENERIC, "persist");
pub const RENAME_FROM: Event = Event::new(class::GENERIC, "rename_from");
pub const RENAME_TO: Event = Event::new(class::GENERIC, "rename_to");
pub const MOVE_FROM: Event = Event::new(class::GENERIC, "move_from");
pub const MOVE_TO: Event = Event::new(class::GENERIC, "move_to");
pub const COPY_TO: Event = Event::new(class::GENERIC, "copy_to");
pub const RESTORE: Event = Event::new(class::GENERIC, "restore");

// Strings (HyperLogLogs and bitmaps are strings).
pub const SET: Event = Event::new(class::STRING, "set");
pub const SETRANGE: Event = Event::new(class::STRING, "setrange");
pub const INCRBY: Event = Event::new(class::STRING, "incrby");
pub const INCRBYFLOAT: Event = Event::new(class::STRING, "incrbyfloat");
pub const APPEND: Event = Event::new(class::STRING, "append");
pub const SETBIT: Event = Event::new(class::STRING, "setbit");
pub const PFADD: Event = Event::new(class::STRING, "pfadd");

// Lists.
pub const LPUSH: Event = Event::new(class::LIST, "lpush");
pub const RPUSH: Event = Event::new(class::LIST, "rpush");
pub const LPOP: Event = Event::new(class::LIST, "lpop");
pub const RPOP: Event = Event::new(class::LIST, "rpop");
pub const LINSERT: Event = Event::new(class::LIST, "linsert");
pub const LSET: Event = Event::new(class::LIST, "lset");
pub const LTRIM: Event = Event::new(class::LIST, "ltrim");
pub const LREM: Event = Event::new(class::LIST, "lrem");
pub const SORTSTORE: Event = Event::new(class::LIST, "sortstore");

// Sets.
pub const SADD: Event = Event::new(class::SET, "sadd");
pub const SREM: Event = Event::new(class::SET, "srem");
pub const SPOP: Event = Event::new(class::SET, "spop");
pub const SINTERSTORE: Event = Event::new(class::SET, "sinterstore");
pub const SUNIONSTORE: Event = Event::new(class::SET, "sunionstore");
pub const SDIFFSTORE: Event = Event::new(class::SET, "sdiffstore");

// Hashes.
pub const HSET: Event = Event::new(class::HASH, "hset");
pub const HDEL: Event = Event::new(class::HASH, "hdel");
pub const HINCRBY: Event = Event::new(class::HASH, "hincrby");
pub const HINCRBYFLOAT: Event = Event::new(class::HASH, "hincrbyfloat");

// Sorted sets (geo indexes are sorted sets).
pub const ZADD: Event = Event::new(class::ZSET, "zadd");
pub const ZINCR: Event = Event::new(class::ZSET, "zincr");
pub const ZREM: Event = Event::new(class::ZSET, "zrem");
pub const ZREMRANGEBYRANK: Event = Event::new(class::ZSET, "zremrangebyrank");
pub const ZREMRANGEBYSCORE: Event = Event::new(class::ZSET, "zremrangebyscore");
pub const ZREMRANGEBYLEX: Event = Event::new(class::ZSET, "zremrangebylex");
pub const ZPOPMIN: Event = Event::new(class::ZSET, "zpopmin");
pub const ZPOPMAX: Event = Event::new(class::ZSET, "zpopmax");
pub const ZUNIONSTORE: Event = Event::new(class::ZSET, "zunionstore");
pub const ZINTERSTORE: Event = Event::new(class::ZSET, "zinterstore");
pub const ZDIFFSTORE: Event = Event::new(class::ZSET, "zdiffstore");
pub const ZRANGESTORE: Event = Event::new(class::ZSET, "zrangestore");
pub const GEOSEARCHSTORE: Event = Event::new(class::ZSET, "geosearchstore");
pub const GEORADIUSSTORE: Event = Event::new(class::ZSET, "georadiusstore");

// Streams.
pub const XADD: Event = Event::new(class::STREAM, "xadd");
pub const XTRIM: Event = Event::new(class::STREAM, "xtrim");
pub const XDEL: Event = Event::new(class::STREAM, "xdel");
pub const XSETID: Event = Event::new(class::STREAM, "xsetid");
pub const XGROUP_CREATE: Event = Event::new(class::STREAM, "xgroup-create");
pub const XGROUP_CREATECONSUMER: Event = Event::new(class::STREAM, "xgroup-createconsumer");
pub const XGROUP_DELCONSUMER: Event = Event::new(class::STREAM, "xgroup-delconsumer");
pub const XGROUP_DESTROY: Event = Event::new(class::STREAM, "xgroup-destroy");
pub const XGROUP_SETID: Event = Event::new(class::STREAM, "xgroup-setid");
