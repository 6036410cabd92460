//! The command table's facts against redis-server 7.0: for every command
//! Shoal implements, COMMAND INFO must report the same arity, flags, key
//! positions, ACL categories, tips, key specs and subcommands. (Key-spec
//! "notes" are Redis's prose and are not reproduced.) COMMAND GETKEYS must
//! find the same keys for a sample of command lines.

mod support;

use shoal_resp::Value;
use support::ServerProcess;

/// Removes the "notes" entries from key-spec maps (RESP2 flat arrays).
fn without_notes(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let is_key_spec = items.first() == Some(&Value::Bulk(b"notes".to_vec()))
                || items.first() == Some(&Value::Bulk(b"flags".to_vec()));
            let mut out = Vec::with_capacity(items.len());
            let mut iter = items.into_iter().peekable();
            while let Some(item) = iter.next() {
                if is_key_spec && item == Value::Bulk(b"notes".to_vec()) {
                    iter.next();
                    continue;
                }
                out.push(without_notes(item));
            }
            Value::Array(out)
        }
        other => other,
    }
}

/// Subcommands may come in any order: sort them by name.
fn normalise(value: Value) -> Value {
    let Value::Array(mut fields) = without_notes(value) else { return Value::Null };
    if let Some(Value::Array(subs)) = fields.get_mut(9) {
        let mut sorted: Vec<Value> = subs.drain(..).map(normalise).collect();
        sorted.sort_by_key(|s| format!("{s:?}"));
        *subs = sorted;
    }
    Value::Array(fields)
}

#[test]
fn command_info_matches_redis_for_every_command() {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    let mut s = shoal.client();
    let mut r = redis.client();
    let Value::Array(ours) = s.cmd("COMMAND") else { panic!("COMMAND returns an array") };
    assert!(ours.len() >= 60, "Shoal implements at least the foundation commands");
    let mut compared = 0;
    for info in ours {
        let Value::Array(fields) = &info else { panic!() };
        let Value::Bulk(name) = &fields[0] else { panic!() };
        let Value::Array(mut theirs) = r.call(&[b"COMMAND", b"INFO", name]) else { panic!() };
        let theirs = theirs.remove(0);
        let (ours_n, theirs_n) = (normalise(info.clone()), normalise(theirs));
        // Subcommands Shoal does not implement yet are absent from its entry:
        // compare the ones it has.
        let (ours_n, theirs_n) = restrict_subcommands(ours_n, theirs_n);
        assert_eq!(ours_n, theirs_n, "COMMAND INFO {} differs", String::from_utf8_lossy(name));
        compared += 1;
    }
    assert!(compared >= 60);
}

fn restrict_subcommands(ours: Value, theirs: Value) -> (Value, Value) {
    let (Value::Array(ours_fields), Value::Array(mut theirs_fields)) = (ours, theirs) else { panic!() };
    if let (Some(Value::Array(our_subs)), Some(Value::Array(their_subs))) = (ours_fields.get(9), theirs_fields.get_mut(9)) {
        let names: Vec<Value> = our_subs
            .iter()
            .map(|s| match s {
                Value::Array(f) => f[0].clone(),
                _ => Value::Null,
            })
            .collect();
        their_subs.retain(|s| matches!(s, Value::Array(f) if names.contains(&f[0])));
    }
    (Value::Array(ours_fields), Value::Array(theirs_fields))
}

#[test]
fn getkeys_matches_redis() {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    let mut s = shoal.client();
    let mut r = redis.client();
    let lines: &[&str] = &[
        "GET k",
        "SET k v EX 10 GET",
        "MSET a 1 b 2 c 3",
        "MGET a b c",
        "DEL a b c",
        "RENAME a b",
        "COPY a b DB 2 REPLACE",
        "LCS a b IDX",
        "EXPIRE k 10 NX",
        "OBJECT ENCODING k",
        "WATCH a b",
        "PING",
        "MSET a",
    ];
    for line in lines {
        let mut args: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYSANDFLAGS"];
        args.extend(line.split_whitespace().map(|w| w.as_bytes()));
        assert_eq!(s.call(&args), r.call(&args), "COMMAND GETKEYSANDFLAGS {line}");
    }
}
