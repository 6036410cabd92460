//! The AOF file layer (crates/persist/src/aof) against files redis-server
//! 7.0 writes itself: its manifest and incr files parse to what was sent,
//! a rewrite's new base and manifest parse, and `shoal-check-aof` judges
//! and repairs torn files as redis-check-aof does.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_persist::aof::{self, AofReader, Entry, FileKind, Manifest, ReadError};
use support::{RawClient, ServerProcess};

fn aof_dir(server: &ServerProcess) -> PathBuf {
    server.dir.path().join("appendonlydir")
}

fn manifest(server: &ServerProcess) -> Manifest {
    let text = std::fs::read(aof_dir(server).join("appendonly.aof.manifest")).unwrap();
    Manifest::parse(&text).unwrap()
}

fn words(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
}

/// Every command of a file as text, annotations apart.
fn read_file(path: &Path) -> (Vec<String>, Vec<Vec<u8>>) {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = AofReader::new(bytes.as_slice(), 0);
    let (mut commands, mut annotations) = (Vec::new(), Vec::new());
    while let Some(entry) = reader.next_entry().unwrap() {
        match entry {
            Entry::Command(args) => commands.push(words(&args)),
            Entry::Annotation(text) => annotations.push(text),
        }
    }
    assert_eq!(reader.offset(), bytes.len() as u64);
    (commands, annotations)
}

fn rewrite_and_wait(c: &mut RawClient) {
    c.cmd("BGREWRITEAOF");
    let deadline = Instant::now() + Duration::from_secs(30);
    while support::persistence_field(c, "aof_rewrite_in_progress") != "0"
        || support::persistence_field(c, "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn redis_with_aof(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"];
    args.extend_from_slice(extra);
    ServerProcess::redis(&args)
}

#[test]
fn redis_incr_files_and_manifests_parse_to_what_was_sent() {
    let started = now_secs();
    let server = redis_with_aof(&["--aof-use-rdb-preamble", "no", "--aof-timestamp-enabled", "yes"]);
    let mut c = server.client();
    let sent = [
        "SET k v",
        "RPUSH list a b c",
        "SELECT 3",
        "HSET h field value",
        "INCR counter",
        "MULTI",
        "SET x 1",
        "SET y 2",
        "EXEC",
    ];
    for line in sent {
        c.cmd(line);
    }
    c.call(&[b"SET", b"binary", b"a\r\nb\0c"]);

    let m = manifest(&server);
    let base = m.base.clone().expect("a base");
    assert_eq!((base.name.as_str(), base.seq, base.kind), ("appendonly.aof.1.base.aof", 1, FileKind::Base));
    assert_eq!(m.incr.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["appendonly.aof.1.incr.aof"]);
    assert!(m.history.is_empty());
    // Written back, the manifest is byte for byte what Redis wrote.
    assert_eq!(m.to_bytes(), std::fs::read(aof_dir(&server).join("appendonly.aof.manifest")).unwrap());

    let (commands, mut annotations) = read_file(&aof_dir(&server).join(&m.incr[0].name));
    // The empty base written at start-up carries a timestamp; commands in
    // the same second add none.
    let (base_commands, base_annotations) = read_file(&aof_dir(&server).join(&base.name));
    assert!(base_commands.is_empty());
    annotations.extend(base_annotations);
    let mut expected = vec!["SELECT 0".to_string()];
    expected.extend(sent.iter().map(|s| s.to_string()));
    expected.push("SET binary a\r\nb\0c".to_string());
    assert_eq!(commands, expected);
    assert!(!annotations.is_empty());
    for a in annotations {
        let t = aof::parse::timestamp(&a).unwrap();
        assert!(t >= started && t <= now_secs(), "{t}");
    }

    // A rewrite: a new base holding the dataset, a new incr file, the old
    // ones retired (and deleted).
    rewrite_and_wait(&mut c);
    c.cmd("SET after rewrite");
    let m = manifest(&server);
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.aof");
    assert_eq!(m.incr.iter().map(|f| (f.name.as_str(), f.seq)).collect::<Vec<_>>(), [("appendonly.aof.2.incr.aof", 2)]);
    let (base_commands, _) = read_file(&aof_dir(&server).join(&m.base.as_ref().unwrap().name));
    for wanted in
        ["SELECT 0", "RPUSH list a b c", "SELECT 3", "HMSET h field value", "SET counter 1", "SET x 1", "SET y 2"]
    {
        assert!(base_commands.iter().any(|c| c == wanted), "{wanted:?} not in {base_commands:?}");
    }
    let (incr_commands, _) = read_file(&aof_dir(&server).join(&m.incr[0].name));
    assert_eq!(incr_commands, ["SELECT 3", "SET after rewrite"]);
}

#[test]
fn a_redis_rdb_base_is_recognised() {
    let server = redis_with_aof(&["--aof-use-rdb-preamble", "yes"]);
    let mut c = server.client();
    c.cmd("SET k value");
    rewrite_and_wait(&mut c);
    let m = manifest(&server);
    let base = m.base.unwrap();
    assert!(base.name.ends_with(".base.rdb"), "{}", base.name);
    let head = std::fs::read(aof_dir(&server).join(&base.name)).unwrap();
    assert!(aof::parse::is_rdb(&head));
    // shoal-check-aof checks the RDB data: valid as written, not once a
    // byte of a value changed (the checksum no longer matches).
    let checker = env!("CARGO_BIN_EXE_shoal-check-aof");
    let work = tempfile::tempdir().unwrap();
    copy_dir(&aof_dir(&server), work.path());
    let manifest_path = work.path().join("appendonly.aof.manifest");
    let (valid, report) = run_checker(checker, &[], &manifest_path);
    assert!(valid && report.contains("RDB preamble is OK, proceeding with AOF tail"), "{report}");
    let mut damaged = head.clone();
    let at = damaged.windows(5).position(|w| w == b"value").expect("the value");
    damaged[at] = b'w';
    std::fs::write(work.path().join(&base.name), damaged).unwrap();
    let (valid, report) = run_checker(checker, &[], &manifest_path);
    assert!(!valid && report.contains("RDB preamble of AOF file is not sane"), "{report}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Runs a checker on `manifest` with "y" on standard input.
fn run_checker(program: &str, args: &[&str], manifest: &Path) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .arg(manifest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    // The checker may exit without reading it.
    let _ = child.stdin.take().unwrap().write_all(b"y\n");
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `ok_up_to=...` and `ok_up_to_line=...` figures of a checker report.
fn analysed(report: &str) -> Vec<String> {
    let line =
        report.lines().find(|l| l.starts_with("AOF analyzed")).unwrap_or_else(|| panic!("no analysis in {report}"));
    line.split(", ")
        .filter(|part| part.starts_with("ok_up_to") || part.starts_with("diff"))
        .map(str::to_string)
        .collect()
}

#[test]
fn torn_and_corrupt_files_are_judged_and_fixed_like_redis_check_aof() {
    let server = redis_with_aof(&["--aof-use-rdb-preamble", "no"]);
    let mut c = server.client();
    for i in 0..20 {
        c.cmd(&format!("SET key:{i} value:{i}"));
        if i % 5 == 0 {
            c.cmd("MULTI");
            c.cmd(&format!("INCR n{i}"));
            c.cmd("EXEC");
        }
    }
    let incr_name = manifest(&server).incr[0].name.clone();
    let original = std::fs::read(aof_dir(&server).join(&incr_name)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let shoal_checker = env!("CARGO_BIN_EXE_shoal-check-aof");
    // Cut at many points (inside bulks, inside MULTI blocks) and put
    // garbage in the middle; both checkers must agree.
    let mut damaged: Vec<Vec<u8>> = (1..original.len()).step_by(37).map(|cut| original[..cut].to_vec()).collect();
    let mut garbage = original.clone();
    garbage[original.len() / 2] = b'!';
    damaged.push(garbage);
    damaged.push(original.clone());
    for (i, bytes) in damaged.iter().enumerate() {
        let mut results = Vec::new();
        for (who, program) in [("redis", "redis-check-aof"), ("shoal", shoal_checker)] {
            let dir = work.path().join(format!("{i}-{who}"));
            copy_dir(&aof_dir(&server), &dir);
            std::fs::write(dir.join(&incr_name), bytes).unwrap();
            let manifest = dir.join("appendonly.aof.manifest");
            let (valid, report) = run_checker(program, &[], &manifest);
            let (fixed, fix_report) = run_checker(program, &["--fix"], &manifest);
            results.push((valid, analysed(&report), fixed, std::fs::read(dir.join(&incr_name)).unwrap(), fix_report));
        }
        let (redis, shoal) = (&results[0], &results[1]);
        assert_eq!((shoal.0, &shoal.1, shoal.2), (redis.0, &redis.1, redis.2), "case {i}: shoal said {}", shoal.4);
        assert_eq!(shoal.3, redis.3, "case {i}: files after --fix differ");
        // What --fix left reads back completely, as whole transactions.
        let mut reader = AofReader::new(shoal.3.as_slice(), 0);
        loop {
            match reader.next_entry() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("case {i}: {e}"),
            }
        }
        // The library's own verdict agrees with the checkers'.
        let mut reader = AofReader::new(bytes.as_slice(), 0);
        let verdict = loop {
            match reader.next_entry() {
                Ok(Some(_)) => {}
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert_eq!(verdict.is_none(), redis.0, "case {i}: {verdict:?}");
        if let Some(ReadError::Truncated { valid_up_to, .. }) = verdict {
            assert_eq!(valid_up_to as usize, shoal.3.len(), "case {i}");
        }
    }
}
