//! Pub/Sub: who listens to which channel, pattern or shard channel, and
//! the delivery of messages to them.
//!
//! A connection keeps its own subscriptions (`Subscriptions`); the server
//! keeps the reverse index (`PubSub`) that PUBLISH reads. A message is
//! encoded once per protocol and appended to each receiver's outbox
//! (outbox.rs), so one publisher's messages reach every subscriber in the
//! order they were published, whatever worker serves either side. A
//! message for the publishing client itself goes straight into its reply
//! buffer, ahead of the reply to the command that produced it, as in Redis.

use std::sync::atomic::Ordering;

use shoal_engine::events::class;
use shoal_engine::{EventSink, KeyEvent};
use shoal_resp::ReplyBuf;
use shoal_types::glob::glob_match;

use crate::client::{flags, Client, ClientInfo};
use crate::server::Server;
pub use crate::state::channels::PubSub;
pub use crate::state::pubsub::{Kind, Subscriptions};

/// Publishes keyspace events on `__keyspace@<db>__:<key>` (the event's
/// name) and `__keyevent@<db>__:<event>` (the key), as enabled by
/// notify-keyspace-events.
pub struct KeyspaceEvents(pub std::sync::Weak<Server>);

impl EventSink for KeyspaceEvents {
    fn deliver(&self, events: &[KeyEvent]) {
        let Some(server) = self.0.upgrade() else { return };
        let flags = server.engine.notify_flags.load(Ordering::Relaxed);
        for event in events {
            if flags & class::KEYSPACE != 0 {
                let mut channel = format!("__keyspace@{}__:", event.db).into_bytes();
                channel.extend_from_slice(&event.key);
                publish(&server, None, Kind::Channel, &channel, event.event.name.as_bytes());
            }
            if flags & class::KEYEVENT != 0 {
                let channel = format!("__keyevent@{}__:{}", event.db, event.event.name);
                publish(&server, None, Kind::Channel, channel.as_bytes(), &event.key);
            }
        }
    }

    fn invalidate(&self, tx: &mut shoal_engine::Tx<'_>) {
        if let Some(server) = self.0.upgrade() {
            crate::tracking::unit_ended(&server, tx);
        }
    }
}

/// Where a delivery to the client running the command goes: its own reply
/// buffer, so the push precedes the command's reply.
pub struct Current<'a> {
    pub id: u64,
    pub out: &'a mut ReplyBuf,
}

/// Publishes `message` on `channel` to its channel and pattern listeners
/// (or to its shard channel listeners); returns how many received it.
pub fn publish(server: &Server, mut current: Option<Current<'_>>, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
    let mut encoded = Encoded::default();
    let (word, index) = match kind {
        Kind::Shard => (&b"smessage"[..], &server.pubsub.shard_channels),
        _ => (&b"message"[..], &server.pubsub.channels),
    };
    let mut receivers = 0;
    if let Some(listeners) = index.read().get(channel) {
        for info in listeners {
            let bytes = encoded.get(info, 3, |out| {
                out.bulk(word);
                out.bulk(channel);
                out.bulk(message);
            });
            deliver(server, &mut current, info, bytes);
            receivers += 1;
        }
    }
    if kind == Kind::Shard {
        return receivers;
    }
    for (pattern, listeners) in server.pubsub.patterns.read().iter() {
        if !glob_match(pattern, channel, false) {
            continue;
        }
        let mut encoded = Encoded::default();
        for info in listeners {
            let bytes = encoded.get(info, 4, |out| {
                out.bulk(b"pmessage");
                out.bulk(pattern);
                out.bulk(channel);
                out.bulk(message);
            });
            deliver(server, &mut current, info, bytes);
            receivers += 1;
        }
    }
    receivers
}

fn deliver(server: &Server, current: &mut Option<Current<'_>>, info: &ClientInfo, bytes: &[u8]) {
    match current {
        Some(current) if current.id == info.id => current.out.raw(bytes),
        _ => crate::outbox::send(server, info, bytes),
    }
}

/// One message encoded for RESP2 and RESP3 listeners, each at most once.
#[derive(Default)]
struct Encoded {
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl Encoded {
    /// The message for `info`'s protocol: a push of `elements`, which
    /// `body` writes.
    fn get(&mut self, info: &ClientInfo, elements: usize, body: impl Fn(&mut ReplyBuf)) -> &[u8] {
        let resp3 = info.resp.load(Ordering::Relaxed) >= 3;
        let slot = if resp3 { &mut self.resp3 } else { &mut self.resp2 };
        slot.get_or_insert_with(|| {
            let mut out = ReplyBuf::new(if resp3 { shoal_resp::Protocol::Resp3 } else { shoal_resp::Protocol::Resp2 });
            out.push(elements);
            body(&mut out);
            out.buf
        })
    }
}

/// Subscribes the client to each name, writing a confirmation for each.
pub fn subscribe(server: &Server, client: &mut Client, out: &mut ReplyBuf, kind: Kind, names: &[&[u8]]) {
    for &name in names {
        let list = client.subscriptions.list(kind);
        if !list.iter().any(|n| &**n == name) {
            list.push(name.into());
            server.pubsub.add(kind, name, &client.info);
        }
        publish_counts(client);
        confirm(out, kind.subscribed_word(), Some(name), client.subscriptions.count_for(kind));
    }
}

/// Unsubscribes the client from each name (from all of its kind when
/// `names` is empty), writing a confirmation for each.
pub fn unsubscribe(server: &Server, client: &mut Client, out: &mut ReplyBuf, kind: Kind, names: &[&[u8]]) {
    let all: Vec<Box<[u8]>>;
    let names: Vec<&[u8]> = if names.is_empty() {
        all = client.subscriptions.list(kind).clone();
        all.iter().map(|n| &**n).collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        // Nothing to leave: one confirmation with a null name.
        confirm(out, kind.unsubscribed_word(), None, client.subscriptions.count_for(kind));
    }
    for name in names {
        let list = client.subscriptions.list(kind);
        if let Some(at) = list.iter().position(|n| &**n == name) {
            list.remove(at);
            server.pubsub.remove(kind, name, client.info.id);
        }
        publish_counts(client);
        confirm(out, kind.unsubscribed_word(), Some(name), client.subscriptions.count_for(kind));
    }
}

/// Drops every subscription (the connection is closing, or RESET).
pub fn unsubscribe_all(server: &Server, client: &mut Client) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(client.subscriptions.list(kind)) {
            server.pubsub.remove(kind, &name, client.info.id);
        }
    }
    publish_counts(client);
}

/// Mirrors the counts into the client's shared info (CLIENT LIST, the
/// RESP2 subscribed context, the output limit class).
fn publish_counts(client: &Client) {
    let subscriptions = &client.subscriptions;
    let info = &client.info;
    info.subscriptions.store(subscriptions.channels.len(), Ordering::Relaxed);
    info.pattern_subscriptions.store(subscriptions.patterns.len(), Ordering::Relaxed);
    info.shard_subscriptions.store(subscriptions.shard_channels.len(), Ordering::Relaxed);
    info.set_flag(flags::PUBSUB, subscriptions.total() > 0);
}

/// A (un)subscribe confirmation: a push in RESP3, an array in RESP2.
fn confirm(out: &mut ReplyBuf, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(name) => out.bulk(name),
        None => out.null(),
    }
    out.int(count as i64);
}
