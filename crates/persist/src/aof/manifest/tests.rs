use super::*;
use crate::aof::disk::{FaultDisk, Op};

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text.as_bytes())
}

fn message(text: &str) -> &'static str {
    parse(text).unwrap_err().message
}

const REDIS_EXAMPLE: &str = "file appendonly.aof.2.base.rdb seq 2 type b\n\
file appendonly.aof.1.incr.aof seq 1 type h\n\
file appendonly.aof.2.incr.aof seq 2 type h\n\
file appendonly.aof.3.incr.aof seq 3 type h\n\
file appendonly.aof.4.incr.aof seq 4 type i\n\
file appendonly.aof.5.incr.aof seq 5 type i\n";

#[test]
fn parses_and_writes_back_the_same_text() {
    let m = parse(REDIS_EXAMPLE).unwrap();
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
    assert_eq!(m.history.len(), 3);
    assert_eq!(m.incr.iter().map(|f| f.seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!((m.base_seq, m.incr_seq), (2, 5));
    assert_eq!(String::from_utf8(m.to_bytes()).unwrap(), REDIS_EXAMPLE);
    let names: Vec<&str> = m.load_order().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["appendonly.aof.2.base.rdb", "appendonly.aof.4.incr.aof", "appendonly.aof.5.incr.aof"]);
}

#[test]
fn accepts_what_redis_accepts() {
    // Comments, keys in any order and case, unknown keys, blanks around.
    let m = parse("# comment\n  TYPE i SEQ 7 FILE x.aof extra value \r\n#\n").unwrap();
    assert_eq!(m.incr, [AofFile { name: "x.aof".into(), seq: 7, kind: FileKind::Incr }]);
    // Only comments: an empty manifest, not an error.
    assert!(parse("# nothing\n").unwrap().is_empty());
    // The sequence is read like C's atoll.
    assert_eq!(parse("file a seq 12abc type b\n").unwrap().base.unwrap().seq, 12);
    // A quoted name with a space and an escape.
    let m = parse("file \"my file\\x41\" seq 1 type i\n").unwrap();
    assert_eq!(m.incr[0].name, "my fileA");
}

#[test]
fn refuses_what_redis_refuses_with_its_messages() {
    assert_eq!(parse("").unwrap_err(), ManifestError { line: None, message: error::EMPTY });
    assert_eq!(message("file a seq 1 type b"), error::TOO_LONG);
    assert_eq!(message(&format!("file {} seq 1 type b\n", "x".repeat(1100))), error::TOO_LONG);
    assert_eq!(message("file a seq 1 type b\n\n"), error::FORMAT);
    assert_eq!(message("file a seq 1\n"), error::FORMAT);
    assert_eq!(message("file a seq 1 type\n"), error::FORMAT);
    assert_eq!(message("file \"a seq 1 type b\n"), error::FORMAT);
    assert_eq!(message("file a seq 0 type b\n"), error::FORMAT);
    assert_eq!(message("file a seq x type b\n"), error::FORMAT);
    assert_eq!(message("file a seq 1 type \"\"\n"), error::FORMAT);
    assert_eq!(message("name a seq 1 type b\n"), error::FORMAT);
    assert_eq!(message("file dir/a seq 1 type b\n"), error::PATH);
    assert_eq!(message("file a seq 1 type b\nfile b seq 2 type b\n"), error::DUPLICATE_BASE);
    assert_eq!(message("file a seq 2 type i\nfile b seq 2 type i\n"), error::NON_MONOTONIC);
    assert_eq!(message("file a seq -1 type i\n"), error::NON_MONOTONIC);
    assert_eq!(message("file a seq 1 type x\n"), error::UNKNOWN_TYPE);
    // The line at fault is reported (numbered with the comments).
    let err = parse("# c\nfile a seq 1 type b\n  file b seq 1 type q \n").unwrap_err();
    assert_eq!(err.line, Some((3, "file b seq 1 type q".to_string())));
    assert!(err.to_string().contains("at line 3"), "{err}");
}

#[test]
fn names_that_need_quoting_are_quoted_and_read_back() {
    let mut m = Manifest::default();
    m.add_incr("my aof\"x");
    let text = m.to_bytes();
    assert_eq!(text, b"file \"my aof\\\"x.1.incr.aof\" seq 1 type i\n");
    assert_eq!(Manifest::parse(&text).unwrap(), m);
}

#[test]
fn the_changes_of_appending_and_rewriting() {
    let mut m = Manifest::default();
    assert_eq!(m.last_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
    assert_eq!(m.last_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
    // A rewrite starts: appends go to a new incr file.
    assert_eq!(m.add_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
    // It ends: a new base; the incr files it covers become history.
    assert_eq!(m.new_base("appendonly.aof", true), "appendonly.aof.1.base.rdb");
    m.retire_incr(true);
    let text = "file appendonly.aof.1.base.rdb seq 1 type b\n\
                file appendonly.aof.1.incr.aof seq 1 type h\n\
                file appendonly.aof.2.incr.aof seq 2 type i\n";
    assert_eq!(String::from_utf8(m.to_bytes()).unwrap(), text);
    // Another rewrite: the old base becomes history too (each newly
    // retired file goes first, as Redis orders them).
    m.add_incr("appendonly.aof");
    assert_eq!(m.new_base("appendonly.aof", false), "appendonly.aof.2.base.aof");
    m.retire_incr(true);
    let kinds: Vec<(&str, FileKind)> =
        m.base.iter().chain(&m.history).chain(&m.incr).map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("appendonly.aof.2.base.aof", FileKind::Base),
            ("appendonly.aof.2.incr.aof", FileKind::History),
            ("appendonly.aof.1.base.rdb", FileKind::History),
            ("appendonly.aof.1.incr.aof", FileKind::History),
            ("appendonly.aof.3.incr.aof", FileKind::Incr),
        ]
    );
    // With appendonly off nothing is kept.
    m.retire_incr(false);
    assert!(m.incr.is_empty());
    assert_eq!(Manifest::parse(&m.to_bytes()).unwrap().history.len(), 4);
}

#[test]
fn persisting_is_atomic_across_a_crash() {
    let disk = FaultDisk::new();
    let dir = Path::new("appendonlydir");
    disk.create_dir(dir).unwrap();
    let mut m = Manifest::default();
    m.add_incr("appendonly.aof");
    m.persist(&disk, dir, "appendonly.aof").unwrap();
    assert_eq!(Manifest::load(&disk, dir, "appendonly.aof").unwrap().unwrap().unwrap(), m);
    // The next write fails at the rename: the old manifest stays, whole.
    let old = m.clone();
    m.add_incr("appendonly.aof");
    disk.fail(Op::Rename, 0);
    assert!(m.persist(&disk, dir, "appendonly.aof").is_err());
    let after_crash = disk.crash(false);
    assert_eq!(Manifest::load(&after_crash, dir, "appendonly.aof").unwrap().unwrap().unwrap(), old);
    // Done in full, it survives a crash.
    m.persist(&disk, dir, "appendonly.aof").unwrap();
    let after_crash = disk.crash(false);
    assert_eq!(Manifest::load(&after_crash, dir, "appendonly.aof").unwrap().unwrap().unwrap(), m);
    assert_eq!(after_crash.list(dir), ["appendonly.aof.manifest"]);
    // No directory or no manifest: nothing to load.
    assert!(Manifest::load(&disk, Path::new("other"), "appendonly.aof").unwrap().is_none());
    assert!(Manifest::load(&disk, dir, "other.aof").unwrap().is_none());
}

#[test]
fn deleting_history() {
    let disk = FaultDisk::new();
    let dir = Path::new("d");
    disk.create_dir(dir).unwrap();
    let mut m = Manifest::default();
    let first = m.add_incr("a.aof").to_string();
    disk.create(&dir.join(&first)).unwrap();
    m.new_base("a.aof", true);
    m.retire_incr(false);
    assert_eq!(m.history.len(), 1);
    disk.fail(Op::Remove, 0);
    assert!(m.delete_history(&disk, dir, "a.aof").is_err());
    assert_eq!(m.history.len(), 1, "a file that could not be removed stays listed");
    m.delete_history(&disk, dir, "a.aof").unwrap();
    assert!(m.history.is_empty());
    assert_eq!(disk.list(dir), ["a.aof.manifest"]);
    let loaded = Manifest::load(&disk, dir, "a.aof").unwrap().unwrap().unwrap();
    assert!(loaded.history.is_empty() && loaded.base.is_some());
}
