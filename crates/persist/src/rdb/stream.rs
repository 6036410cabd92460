//! Streams in RDB (STREAM_LISTPACKS and _2): one listpack per node in
//! Redis's layout, the stream's metadata, then the consumer groups with
//! their pending entries and consumers.
//!
//! A node's listpack (every number an integer element):
//!
//! ```text
//! master entry: live count | deleted count | master field count | names... | 0
//! each entry:   flags | ms - master ms | seq - master seq
//!               | [field count | (field value)...] or, with SAME_FIELDS, values...
//!               | element count of the entry before this one
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use shoal_types::stream::{NodeBuilder, RawNode, Stream, StreamId, ENTRIES_READ_UNKNOWN};

use super::error::{Error, Result};
use super::input::Input;
use super::listpack::{self, Builder, Elem};
use super::output;

const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;
/// Bytes of a raw stream ID (two big-endian u64).
const RAW_ID: u64 = 16;

fn raw_id(bytes: &[u8]) -> StreamId {
    StreamId::new(
        u64::from_be_bytes(bytes[..8].try_into().expect("16 bytes")),
        u64::from_be_bytes(bytes[8..16].try_into().expect("16 bytes")),
    )
}

fn id_pair(input: &mut Input<'_>) -> Result<StreamId> {
    Ok(StreamId::new(input.length()?, input.length()?))
}

fn corrupt(what: &'static str) -> impl Fn(shoal_types::stream::LoadError) -> Error {
    move |_| Error::Corrupt(what)
}

/// Decodes a stream (`v2`: STREAM_LISTPACKS_2, with the 7.0 metadata).
pub(crate) fn decode(input: &mut Input<'_>, v2: bool) -> Result<Stream> {
    let mut stream = Stream::new();
    let nodes = input.count(2)?;
    for _ in 0..nodes {
        let key = input.bytes()?;
        if key.len() as u64 != RAW_ID {
            return Err(Error::Corrupt("stream node key is not the size of a stream ID"));
        }
        let lp = input.bytes()?;
        let elems = listpack::parse(&lp)?;
        if elems.is_empty() {
            return Err(Error::Corrupt("empty listpack inside stream"));
        }
        let builder = node(raw_id(&key), &elems)?;
        stream.entries_mut().push_loaded_node(builder).map_err(corrupt("stream nodes out of order"))?;
    }
    let length = input.length()?;
    let last_id = id_pair(input)?;
    let (first_id, max_deleted, added) = if v2 {
        (id_pair(input)?, id_pair(input)?, input.length()?)
    } else {
        (stream.entries().first_edge_id(true), StreamId::MIN, length)
    };
    stream
        .entries_mut()
        .finish_load(length, last_id, first_id, max_deleted, added)
        .map_err(corrupt("stream length or last ID inconsistent with its entries"))?;
    let groups = input.count(3)?;
    for _ in 0..groups {
        group(input, &mut stream, v2)?;
    }
    Ok(stream)
}

/// Cursor over a node's listpack elements.
struct Elems<'e, 'a> {
    elems: &'e [Elem<'a>],
    at: usize,
}

impl<'e, 'a> Elems<'e, 'a> {
    fn next(&mut self) -> Result<Elem<'a>> {
        let e = *self.elems.get(self.at).ok_or(Error::Corrupt("stream listpack ends early"))?;
        self.at += 1;
        Ok(e)
    }

    fn int(&mut self) -> Result<i64> {
        match self.next()? {
            Elem::Int(v) => Ok(v),
            Elem::Str(s) => shoal_resp::number::parse_i64(s).ok_or(Error::Corrupt("stream listpack integer")),
        }
    }

    fn count(&mut self) -> Result<usize> {
        let n = self.int()?;
        usize::try_from(n).ok().filter(|&n| n <= self.elems.len()).ok_or(Error::Corrupt("stream listpack count"))
    }

    fn bytes(&mut self) -> Result<Cow<'a, [u8]>> {
        Ok(match self.next()? {
            Elem::Str(s) => Cow::Borrowed(s),
            e @ Elem::Int(_) => Cow::Owned(e.to_vec()),
        })
    }
}

/// Rebuilds one node from its listpack.
fn node(master: StreamId, elems: &[Elem<'_>]) -> Result<NodeBuilder> {
    let mut e = Elems { elems, at: 0 };
    let live = e.count()?;
    let deleted = e.count()?;
    let master_count = e.count()?;
    let names = (0..master_count).map(|_| e.bytes()).collect::<Result<Vec<_>>>()?;
    if e.int()? != 0 {
        return Err(Error::Corrupt("stream master entry terminator"));
    }
    let name_refs: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
    let mut builder = NodeBuilder::new(master, &name_refs);
    let (mut seen_live, mut seen_deleted) = (0, 0);
    let mut pairs: Vec<Cow<'_, [u8]>> = Vec::new();
    while e.at < elems.len() {
        let flags = e.int()?;
        let ms = master.ms.wrapping_add(e.int()? as u64);
        let seq = master.seq.wrapping_add(e.int()? as u64);
        pairs.clear();
        let (fields, extra) = if flags & FLAG_SAME_FIELDS != 0 {
            for name in &names {
                pairs.push(name.clone());
                pairs.push(e.bytes()?);
            }
            (master_count, 3)
        } else {
            let n = e.count()?;
            for _ in 0..n * 2 {
                pairs.push(e.bytes()?);
            }
            (n, 4 + n)
        };
        if e.int()? != (fields + extra) as i64 {
            return Err(Error::Corrupt("stream entry element count"));
        }
        let is_deleted = flags & FLAG_DELETED != 0;
        if is_deleted {
            seen_deleted += 1;
        } else {
            seen_live += 1;
        }
        let refs: Vec<&[u8]> = pairs.iter().map(|p| &p[..]).collect();
        builder.push(StreamId::new(ms, seq), is_deleted, &refs).map_err(corrupt("stream entry IDs out of order"))?;
    }
    if (seen_live, seen_deleted) != (live, deleted) {
        return Err(Error::Corrupt("stream node counts"));
    }
    Ok(builder)
}

/// Pending entry: delivery time, delivery count, owned by a consumer yet.
type Pending = BTreeMap<StreamId, (i64, u64, bool)>;

fn group(input: &mut Input<'_>, stream: &mut Stream, v2: bool) -> Result<()> {
    let name = input.bytes()?;
    let last_id = id_pair(input)?;
    let entries_read = if v2 {
        input.length()? as i64
    } else {
        stream.entries().estimate_distance(last_id).map_or(ENTRIES_READ_UNKNOWN, |d| d as i64)
    };
    if !stream.create_group(&name, last_id, entries_read) {
        return Err(Error::Corrupt("duplicated consumer group name"));
    }
    let group = stream.group_mut(&name).expect("group just created");
    let mut pending = Pending::new();
    for _ in 0..input.count(RAW_ID + 9)? {
        let id = raw_id(input.take(RAW_ID)?);
        let time = input.ms_time()?;
        let count = input.length()?;
        if pending.insert(id, (time, count, false)).is_some() {
            return Err(Error::Corrupt("duplicated global PEL entry"));
        }
    }
    for _ in 0..input.count(10)? {
        let consumer_name = input.bytes()?;
        let seen = input.ms_time()?;
        let consumer = group.create_consumer(&consumer_name, seen).ok_or(Error::Corrupt("duplicate stream consumer"))?;
        for _ in 0..input.count(RAW_ID)? {
            let id = raw_id(input.take(RAW_ID)?);
            let nack = pending.get_mut(&id).ok_or(Error::Corrupt("consumer entry not found in group global PEL"))?;
            if nack.2 {
                return Err(Error::Corrupt("duplicated consumer PEL entry"));
            }
            nack.2 = true;
            group.claim(id, consumer, nack.0, nack.1);
        }
    }
    if pending.values().any(|nack| !nack.2) {
        return Err(Error::Corrupt("stream group PEL entry without consumer"));
    }
    Ok(())
}

/// Skips a stream without building it.
pub(crate) fn skip(input: &mut Input<'_>, v2: bool) -> Result<()> {
    for _ in 0..input.count(2)? {
        input.skip_string()?;
        input.skip_string()?;
    }
    for _ in 0..if v2 { 8 } else { 3 } {
        input.length()?;
    }
    for _ in 0..input.count(3)? {
        input.skip_string()?;
        for _ in 0..if v2 { 3 } else { 2 } {
            input.length()?;
        }
        for _ in 0..input.count(RAW_ID + 9)? {
            input.take(RAW_ID + 8)?;
            input.length()?;
        }
        for _ in 0..input.count(10)? {
            input.skip_string()?;
            input.take(8)?;
            let n = input.count(RAW_ID)?;
            input.take(n as u64 * RAW_ID)?;
        }
    }
    Ok(())
}

/// Writes a stream as STREAM_LISTPACKS_2.
pub(crate) fn encode(stream: &Stream, out: &mut Vec<u8>, compress: bool) {
    let entries = stream.entries();
    output::length(out, entries.node_count() as u64);
    for node in entries.raw_nodes() {
        output::string(out, &node.master().to_be_bytes(), compress);
        output::string(out, &node_listpack(&node), compress);
    }
    output::length(out, entries.len());
    for id in [entries.last_id(), entries.first_id(), entries.max_deleted_id()] {
        output::length(out, id.ms);
        output::length(out, id.seq);
    }
    output::length(out, entries.entries_added());
    output::length(out, stream.group_count() as u64);
    for (name, group) in stream.groups() {
        output::string(out, name, compress);
        output::length(out, group.last_id.ms);
        output::length(out, group.last_id.seq);
        output::length(out, group.entries_read as u64);
        output::length(out, group.pending_count() as u64);
        for (id, nack) in group.pending_from(StreamId::MIN) {
            out.extend_from_slice(&id.to_be_bytes());
            output::ms_time(out, nack.delivery_time);
            output::length(out, nack.delivery_count);
        }
        output::length(out, group.consumer_count() as u64);
        for consumer in group.consumers() {
            output::string(out, consumer.name(), compress);
            output::ms_time(out, consumer.seen_time);
            output::length(out, consumer.pending() as u64);
            for id in consumer.pending_range(StreamId::MIN, StreamId::MAX) {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

fn node_listpack(node: &RawNode<'_>) -> Vec<u8> {
    let master = node.master();
    let mut lp = Builder::new();
    lp.push_int(node.live() as i64);
    lp.push_int(node.deleted() as i64);
    let names: Vec<&[u8]> = node.master_fields().collect();
    lp.push_int(names.len() as i64);
    names.iter().for_each(|n| lp.push(n));
    lp.push_int(0);
    for entry in node.entries() {
        let flags = if entry.deleted { FLAG_DELETED } else { 0 } | if entry.same_fields { FLAG_SAME_FIELDS } else { 0 };
        lp.push_int(flags);
        lp.push_int(entry.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(entry.id.seq.wrapping_sub(master.seq) as i64);
        let fields: Vec<(&[u8], &[u8])> = entry.fields().collect();
        let count = if entry.same_fields {
            fields.iter().for_each(|(_, v)| lp.push(v));
            fields.len() + 3
        } else {
            lp.push_int(fields.len() as i64);
            for (f, v) in &fields {
                lp.push(f);
                lp.push(v);
            }
            fields.len() * 2 + 4
        };
        lp.push_int(count as i64);
    }
    lp.finish()
}
