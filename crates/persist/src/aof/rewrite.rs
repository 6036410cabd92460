//! A dataset as commands: the base file a rewrite writes when
//! `aof-use-rdb-preamble` is `no` (Redis 7.0's AOF-format base). Each key
//! becomes the commands that rebuild it when replayed: SET for a string,
//! RPUSH / SADD / ZADD / HMSET with at most `ITEMS_PER_COMMAND` elements
//! each for the collections, and for a stream its entries as XADD, then
//! XSETID (last ID, entries added, max deleted ID) and its consumer
//! groups (XGROUP CREATE with ENTRIESREAD; each consumer's pending entries
//! as XCLAIM ... TIME RETRYCOUNT JUSTID FORCE, a consumer without any as
//! XGROUP CREATECONSUMER). A key with a time to live is followed by
//! PEXPIREAT.

use shoal_types::hash::Hash;
use shoal_types::set::{Member, Set};
use shoal_types::stream::{Stream, StreamId};
use shoal_types::value::Value;

/// Elements per command for collections (Redis's AOF_REWRITE_ITEMS_PER_CMD).
pub const ITEMS_PER_COMMAND: usize = 64;

/// Writes RESP multibulk commands argument by argument.
struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    fn count(&mut self, n: usize) {
        self.0.push(b'*');
        self.0.extend_from_slice(n.to_string().as_bytes());
        self.0.extend_from_slice(b"\r\n");
    }

    fn bulk(&mut self, arg: &[u8]) {
        self.0.push(b'$');
        self.0.extend_from_slice(arg.len().to_string().as_bytes());
        self.0.extend_from_slice(b"\r\n");
        self.0.extend_from_slice(arg);
        self.0.extend_from_slice(b"\r\n");
    }

    fn int(&mut self, value: i64) {
        self.bulk(value.to_string().as_bytes());
    }

    fn id(&mut self, id: StreamId) {
        self.bulk(id.to_string().as_bytes());
    }

    fn command(&mut self, args: &[&[u8]]) {
        self.count(args.len());
        args.iter().for_each(|a| self.bulk(a));
    }

    /// `name key` followed by `items` in commands of at most
    /// `ITEMS_PER_COMMAND` items, each item `width` arguments long.
    fn batched<'i>(
        &mut self,
        name: &[u8],
        key: &[u8],
        len: usize,
        width: usize,
        items: impl Iterator<Item = Vec<&'i [u8]>>,
    ) {
        let mut left = len;
        for (i, item) in items.enumerate() {
            if i % ITEMS_PER_COMMAND == 0 {
                let batch = left.min(ITEMS_PER_COMMAND);
                left -= batch;
                self.count(2 + batch * width);
                self.bulk(name);
                self.bulk(key);
            }
            item.iter().for_each(|a| self.bulk(a));
        }
    }
}

/// `SELECT db`, which precedes each database's keys.
pub fn select(out: &mut Vec<u8>, db: usize) {
    Out(out).command(&[b"SELECT", db.to_string().as_bytes()]);
}

/// Appends the commands that rebuild `key` holding `value` (expiring at
/// `expire_ms`, Unix milliseconds, if any) to `out`.
pub fn key(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<i64>) {
    let mut o = Out(out);
    match value {
        Value::List(list) => {
            o.batched(b"RPUSH", key, list.len(), 1, list.iter().map(|item| vec![item]));
        }
        Value::Set(set) => set_commands(&mut o, key, set),
        Value::ZSet(zset) => {
            let scores: Vec<(Vec<u8>, &[u8])> =
                zset.iter().map(|(member, score)| (shoal_resp::number::f64_to_bytes(score), member)).collect();
            o.batched(b"ZADD", key, scores.len(), 2, scores.iter().map(|(score, member)| vec![&score[..], member]));
        }
        Value::Hash(hash) => hash_commands(&mut o, key, hash),
        Value::Stream(stream) => stream_commands(&mut o, key, stream),
        string => {
            let mut scratch = [0u8; 20];
            o.command(&[b"SET", key, string.string_bytes(&mut scratch).unwrap_or_default()]);
        }
    }
    if let Some(at) = expire_ms {
        o.command(&[b"PEXPIREAT", key, at.to_string().as_bytes()]);
    }
}

fn set_commands(o: &mut Out<'_>, key: &[u8], set: &Set) {
    let members: Vec<Vec<u8>> = set
        .iter()
        .map(|m| match m {
            Member::Bytes(b) => b.to_vec(),
            Member::Int(v) => v.to_string().into_bytes(),
        })
        .collect();
    o.batched(b"SADD", key, members.len(), 1, members.iter().map(|m| vec![&m[..]]));
}

fn hash_commands(o: &mut Out<'_>, key: &[u8], hash: &Hash) {
    o.batched(b"HMSET", key, hash.len(), 2, hash.iter().map(|(field, value)| vec![field, value]));
}

fn stream_commands(o: &mut Out<'_>, key: &[u8], stream: &Stream) {
    let entries = stream.entries();
    if entries.is_empty() {
        // XADD with MAXLEN 0 creates the stream without keeping an entry.
        o.count(7);
        for arg in [&b"XADD"[..], key, b"MAXLEN", b"0"] {
            o.bulk(arg);
        }
        o.id(StreamId::new(0, 1));
        o.bulk(b"x");
        o.bulk(b"y");
    }
    for entry in entries.iter() {
        o.count(3 + 2 * entry.field_count());
        o.bulk(b"XADD");
        o.bulk(key);
        o.id(entry.id);
        for (field, value) in entry.fields() {
            o.bulk(field);
            o.bulk(value);
        }
    }
    o.count(7);
    o.bulk(b"XSETID");
    o.bulk(key);
    o.id(entries.last_id());
    o.bulk(b"ENTRIESADDED");
    o.int(entries.entries_added() as i64);
    o.bulk(b"MAXDELETEDID");
    o.id(entries.max_deleted_id());
    for (name, group) in stream.groups() {
        o.count(7);
        for arg in [&b"XGROUP"[..], b"CREATE", key, name] {
            o.bulk(arg);
        }
        o.id(group.last_id);
        o.bulk(b"ENTRIESREAD");
        o.int(group.entries_read);
        for consumer in group.consumers() {
            if consumer.pending() == 0 {
                o.command(&[b"XGROUP", b"CREATECONSUMER", key, name, consumer.name()]);
                continue;
            }
            for id in consumer.pending_range(StreamId::MIN, StreamId::MAX) {
                let Some(nack) = group.nack(id) else { continue };
                o.count(12);
                for arg in [&b"XCLAIM"[..], key, name, consumer.name(), b"0"] {
                    o.bulk(arg);
                }
                o.id(id);
                o.bulk(b"TIME");
                o.int(nack.delivery_time);
                o.bulk(b"RETRYCOUNT");
                o.int(nack.delivery_count as i64);
                o.bulk(b"JUSTID");
                o.bulk(b"FORCE");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::reader::read_all;

    fn commands(out: &[u8]) -> Vec<String> {
        read_all(out)
            .unwrap()
            .iter()
            .map(|argv| argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn strings_and_expiry() {
        let mut out = Vec::new();
        select(&mut out, 3);
        key(&mut out, b"n", &Value::Int(-12), None);
        key(&mut out, b"s", &Value::string(b"a b"), Some(1_700_000_000_123));
        assert_eq!(commands(&out), ["SELECT 3", "SET n -12", "SET s a b", "PEXPIREAT s 1700000000123"]);
    }

    #[test]
    fn collections_are_cut_every_64_items() {
        let items: Vec<Vec<u8>> = (0..130).map(|i| i.to_string().into_bytes()).collect();
        let list = shoal_types::list::List::from_values(
            items.iter().map(|i| &i[..]),
            &shoal_types::list::ListLimits::new(-2, 1 << 30),
        );
        let mut out = Vec::new();
        key(&mut out, b"l", &Value::List(list), None);
        let cmds = read_all(&out).unwrap();
        assert_eq!(cmds.iter().map(|c| c.len() - 2).collect::<Vec<_>>(), [64, 64, 2]);
        assert!(cmds.iter().all(|c| c[0] == b"RPUSH" && c[1] == b"l"));
        assert_eq!(cmds.iter().flat_map(|c| c[2..].to_vec()).collect::<Vec<_>>(), items);
    }
}
