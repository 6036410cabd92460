//! Corrupt DUMP payloads and RDB files: what RESTORE, start-up loading
//! and the shoal-check-rdb / shoal-check-aof tools do with them.
//!
//! Shoal checks every payload completely whatever `sanitize-dump-payload`
//! says (Redis's deep sanitization). Redis 7.0 with the setting at `no`
//! accepts some corrupt payloads and then stops on an assertion in a later
//! command; tests of its suite that expect that crash are in skiplist.txt,
//! and `payloads_redis_accepts_unsanitized_are_refused` checks in their
//! place that the same payloads get "Bad data format" and the server goes
//! on (and that redis-server refuses them too once it sanitizes).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{error, free_port, ServerProcess};

/// (test of integration/corrupt-dump.tcl, key, payload in hex): payloads
/// that test restores with sanitize-dump-payload no, expecting Redis to
/// accept them and crash later.
const UNSANITIZED_PAYLOADS: &[(&str, &str, &str)] = &[
    (
        "listpack too long entry len",
        "key",
        concat!(
            "0f0110000000000000000200000000000000024055550000000f00010100010201883100000000000000098832000000",
            "000000000900010001000100010202893100000000000000098861000000000000000988320000000000000009886200",
            "000000000000090801ff0a01000009004063c93703a2e568",
        ),
    ),
    (
        "listpack very long entry len",
        "key",
        concat!(
            "0f0110000000000000000200000000000000024055550000000f00010100010201883100000000000000098832000000",
            "0000000009000100010001000102028831000000000000000988610000000000000009883200000000000000099c6200",
            "000000000000090801ff0a0100000900636f428e7cb5a29d",
        ),
    ),
    (
        "hash listpack with duplicate records - convert",
        "_hash",
        "101717000000040082610003826200038261000382640003ff0a00c0cfa687e5a7c5be",
    ),
    (
        "fuzzer findings - NPD in streamIteratorGetID",
        "key",
        concat!(
            "0f011000000173bd68487100000000000000004042420000001800030100010201846974656d058576616c7565060001",
            "0201000100010101000105010201000101010101825f31030501020100010201010102014801ff038100000173bd6848",
            "710201076d7967726f75708100000173bd684871000100000173bd6848710000000000000000724868bd730100000101",
            "05416c696365724868bd730100000100000173bd6848710000000000000000090080cdb0d51aceff10",
        ),
    ),
    (
        "fuzzer findings - listpack NPD on invalid stream",
        "_stream",
        concat!(
            "0f011000000173dcb66bf100000000000000004042420000001800030100010201846974656d058576616c7565060001",
            "02010001000101010001050102011f01000101016d5f31030501020129010001010102010501ff038100000173dcb66c",
            "1a0001076d7967726f75708100000173dcb66bf1000100000173dcb66bf100000000000000004b6cb6dc730100000101",
            "05416c6963653d6cb6dc730100000100000173dcb66bf100000000000000000900c77d1cd704ffe69d",
        ),
    ),
    (
        "fuzzer findings - stream bad lp_count - unsanitized",
        "_stream",
        concat!(
            "0f011000000173dedf7d9b00000000000000004042420000001800030100010201846974656d058576616c7565060001",
            "0201000100010101000156010201220100010101825f3103050102012c010001010102010501ff038100000173dedf7d",
            "c70001076d7967726f75708100000173dedf7d9b000100000173dedf7d9b0000000000000000f97ddfde730100000101",
            "05416c696365eb7ddfde730100000100000173dedf7d9b00000000000000000900b2a8a75f1b6172d5",
        ),
    ),
    (
        "fuzzer findings - infinite loop",
        "_stream",
        concat!(
            "0f0110000001753aa6d09300000000000000004042420000001800030100010201846974656d058576616c7565060001",
            "0201000100010101000105010201000101010101825f3103fd01020100010201010102010501ff0381000001753aa6d0",
            "930201076d7967726f757081000001753aa6d0930001000001753aa6d093000000000000000094d0a63a750100000101",
            "05416c69636594d0a63a7501000001000001753aa6d09300000000000000000900c409ad697eeea62f",
        ),
    ),
    (
        "fuzzer findings - negative reply length",
        "_stream",
        concat!(
            "0f011000000175cfa116a700000000000000004042420000001800030100010201846974656d058576616c7565060001",
            "0201000100010101000105010201000101010101145f31030501020100010201010102010501ff038100000175cfa116",
            "a70201076d7967726f75708100000175cfa116a7010100000175cfa116a70000000000000001a716a1cf750100000101",
            "05416c696365a716a1cf750100000100000175cfa116a7000000000000000109001b4252b8dd5ce54e",
        ),
    ),
    (
        "fuzzer findings - stream with no records",
        "_stream",
        concat!(
            "0f0110000001784d55680900000000000000004042420000001800020101010201846974656d058576616c7565060001",
            "02010001000101010001050103013e0100010101825f31030501020150010001010102010523ff0281000001784d5568",
            "590001076d7967726f757081000001784d5568470001000001784d55684700000000000000009f68554d780100000101",
            "05416c6963658568554d7801000001000001784d55684700000000000000000900f1c0727039401ea9",
        ),
    ),
    (
        "fuzzer findings - stream listpack valgrind issue",
        "_stream",
        concat!(
            "0f01100000017b095e94ff00000000000000004042420000001800020101010201846974656d058576616c7565060001",
            "0201000100010101000105010301250100010101825f3103050102013201000101010201f001ff02810000017b095e95",
            "310001076d7967726f7570810000017b095e952400010000017b095e952400000000000000005c955e097b0100000101",
            "05416c6963654b955e097b010000010000017b095e952400000000000000000900192994df76f81ac6",
        ),
    ),
    (
        "fuzzer findings - stream listpack lpPrev valgrind issue",
        "_stream",
        concat!(
            "0f01100000017b0eae663600000000000000004042420000001800020101010201846974656d058576616c7565060001",
            "020100010001010100011d010301240100010169825f31030501020133010001010102010501ff02810000017b0eae66",
            "690001076d7967726f7570810000017b0eae665a00010000017b0eae665a00000000000000009466ae0e7b0100000101",
            "05416c6963658366ae0e7b010000010000017b0eae665a00000000000000000900d5d7a55c631c0940",
        ),
    ),
    (
        "fuzzer findings - gcc asan reports false leak on assert",
        "_list",
        "120102131300000010000000030000f3fe025f3104f1ff0a00198d3d74859429bd",
    ),
    (
        "fuzzer findings - lpFind invalid access",
        "_hashbig",
        concat!(
            "1039390000001400060106010301825f33030701825f370300010001040104010901825f39030501825f350308010801",
            "0101825f31030201f001ff0a0029d7e452797a9582",
        ),
    ),
];

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn restore(c: &mut support::RawClient, key: &str, payload: &[u8]) -> Value {
    c.call(&[b"RESTORE", key.as_bytes(), b"0", payload, b"REPLACE"])
}

#[test]
fn payloads_redis_accepts_unsanitized_are_refused() {
    let shoal = ServerProcess::shoal(&[
        "--sanitize-dump-payload",
        "no",
        "--loglevel",
        "verbose",
        "--logfile",
        "log",
        "--enable-debug-command",
        "yes",
    ]);
    let redis = ServerProcess::redis(&["--sanitize-dump-payload", "yes", "--enable-debug-command", "yes"]);
    let (mut s, mut r) = (shoal.client(), redis.client());
    for c in [&mut s, &mut r] {
        assert_eq!(c.cmd("DEBUG SET-SKIP-CHECKSUM-VALIDATION 1"), Value::Simple(b"OK".to_vec()));
    }
    for (name, key, hex) in UNSANITIZED_PAYLOADS {
        let payload = unhex(hex);
        assert_eq!(restore(&mut s, key, &payload), error("ERR Bad data format"), "{name}");
        assert_eq!(restore(&mut r, key, &payload), error("ERR Bad data format"), "redis-server: {name}");
        assert_eq!(s.call(&[b"EXISTS", key.as_bytes()]), Value::Int(0), "{name}");
        assert_eq!(s.cmd("PING"), Value::Simple(b"PONG".to_vec()), "{name}");
    }
    let log = std::fs::read_to_string(shoal.dir.path().join("log")).unwrap();
    assert!(log.contains("Stream listpack integrity check failed"), "{log}");
    assert!(log.contains("Hash listpack integrity check failed"), "{log}");
}

#[test]
fn skip_checksum_validation_lets_a_bad_crc_through_but_not_bad_data() {
    let shoal = ServerProcess::shoal(&["--loglevel", "verbose", "--logfile", "log", "--enable-debug-command", "yes"]);
    let mut c = shoal.client();
    c.cmd("RPUSH l a b c");
    let Value::Bulk(mut payload) = c.cmd("DUMP l") else { panic!("DUMP") };
    let last = payload.len() - 1;
    payload[last] ^= 0x55;
    let wrong = error("ERR DUMP payload version or checksum are wrong");
    assert_eq!(restore(&mut c, "copy", &payload), wrong);
    assert_eq!(c.cmd("DEBUG SET-SKIP-CHECKSUM-VALIDATION 1"), Value::Simple(b"OK".to_vec()));
    assert_eq!(restore(&mut c, "copy", &payload), Value::Simple(b"OK".to_vec()));
    assert_eq!(c.cmd("LRANGE copy 0 -1"), c.cmd("LRANGE l 0 -1"));
    // The version is still checked, and the value completely.
    let mut newer = payload.clone();
    let version_at = newer.len() - 10;
    newer[version_at] = 11;
    assert_eq!(restore(&mut c, "copy", &newer), wrong);
    let mut garbled = payload.clone();
    garbled[6] ^= 0xff;
    assert_eq!(restore(&mut c, "copy", &garbled), error("ERR Bad data format"));
    assert_eq!(c.cmd("DEBUG SET-SKIP-CHECKSUM-VALIDATION 0"), Value::Simple(b"OK".to_vec()));
    assert_eq!(restore(&mut c, "copy", &payload), wrong);
    let log = std::fs::read_to_string(shoal.dir.path().join("log")).unwrap();
    assert!(log.contains("RESTORE of key 'copy' refused: Listpack integrity check failed"), "{log}");
}

/// An RDB file (version 10, checksum off) of a string key then `value`
/// (type byte, RDB form) under key `k`.
fn rdb_file(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut bytes = b"REDIS0010".to_vec();
    bytes.extend_from_slice(&[0xFE, 0, 0, 1, b'a', 1, b'x', kind, 1, b'k']);
    bytes.extend_from_slice(value);
    bytes.push(0xFF);
    bytes.extend_from_slice(&[0; 8]);
    bytes
}

/// A ziplist list of 16 garbage bytes.
fn corrupt_rdb() -> Vec<u8> {
    let mut value = vec![16];
    value.extend_from_slice(&[b'A'; 16]);
    rdb_file(10, &value)
}

/// Starts shoal-server on `dir` and waits (10 s at most) for it to exit:
/// its exit status and log.
fn start_expecting_exit(dir: &Path) -> (Option<i32>, String) {
    let port = free_port().to_string();
    let dir_text = dir.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args(["--port", &port, "--bind", "127.0.0.1", "--dir", &dir_text, "--logfile", "log", "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started on a corrupt RDB file");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(dir.join("log")).unwrap_or_default())
}

#[test]
fn a_corrupt_rdb_file_stops_the_server_after_its_check_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dump.rdb"), corrupt_rdb()).unwrap();
    let (code, log) = start_expecting_exit(dir.path());
    assert_eq!(code, Some(1), "{log}");
    assert!(log.lines().filter(|l| l.contains("List ziplist integrity check failed")).count() >= 2, "{log}");
    assert!(log.contains("[additional info] Reading key 'k'"), "{log}");
    assert!(log.trim_end().ends_with("Terminating server after rdb file reading failure."), "{log}");

    // A wrong checksum: the last lines name the CRC error.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = rdb_file(0, &[1, b'y']);
    let end = bytes.len();
    bytes[end - 8..].copy_from_slice(b"foobar00");
    std::fs::write(dir.path().join("dump.rdb"), bytes).unwrap();
    let (code, log) = start_expecting_exit(dir.path());
    assert_eq!(code, Some(1), "{log}");
    let tail: Vec<&str> = log.lines().rev().take(10).collect();
    assert!(tail.iter().any(|l| l.contains("CRC error")), "{log}");
}

#[test]
fn empty_keys_in_an_rdb_file_are_skipped() {
    let shoal = ServerProcess::shoal(&["--logfile", "log", "--enable-debug-command", "yes"]);
    // An empty ziplist: zlbytes 11, zltail 10, zllen 0, end byte.
    let empty_ziplist = [11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF];
    std::fs::write(shoal.dir.path().join("dump.rdb"), rdb_file(10, &empty_ziplist)).unwrap();
    let mut c = shoal.client();
    assert_eq!(c.cmd("DEBUG RELOAD NOSAVE"), Value::Simple(b"OK".to_vec()));
    assert_eq!(c.cmd("KEYS *"), Value::Array(vec![Value::Bulk(b"a".to_vec())]));
    let log = std::fs::read_to_string(shoal.dir.path().join("log")).unwrap();
    assert!(log.contains("skipping empty key: k"), "{log}");
}

fn run_tool(tool: &str, path: &Path) -> (bool, String) {
    let out = Command::new(tool).arg(path).stdin(Stdio::null()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn shoal_check_rdb_reports_valid_and_corrupt_files() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("RPUSH l x y");
    c.cmd("SET e v PX 100000");
    assert_eq!(c.cmd("SAVE"), Value::Simple(b"OK".to_vec()));
    let tool = env!("CARGO_BIN_EXE_shoal-check-rdb");
    let path = server.dir.path().join("dump.rdb");
    let (ok, report) = run_tool(tool, &path);
    assert!(ok, "{report}");
    assert!(report.contains("RDB version 10"), "{report}");
    assert!(report.contains("AUX FIELD redis-ver = '7.0.15'"), "{report}");
    assert!(report.contains("Checksum OK"), "{report}");
    assert!(report.contains("[info] 3 keys read\n[info] 1 expires\n"), "{report}");

    let bad = server.dir.path().join("bad.rdb");
    std::fs::write(&bad, corrupt_rdb()).unwrap();
    let (ok, report) = run_tool(tool, &bad);
    assert!(!ok, "{report}");
    assert!(report.contains("--- RDB ERROR DETECTED ---\n[offset 16] List ziplist integrity check failed"), "{report}");
    assert!(report.contains("[info] 1 keys read"), "{report}");
    let (ok, _) = run_tool(tool, &server.dir.path().join("missing.rdb"));
    assert!(!ok);
}

#[test]
fn shoal_check_aof_checks_an_rdb_preamble() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET a 1");
    assert_eq!(c.cmd("SAVE"), Value::Simple(b"OK".to_vec()));
    let mut aof = std::fs::read(server.dir.path().join("dump.rdb")).unwrap();
    aof.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    let path = server.dir.path().join("old.aof");
    std::fs::write(&path, &aof).unwrap();
    let tool = env!("CARGO_BIN_EXE_shoal-check-aof");
    let (ok, report) = run_tool(tool, &path);
    assert!(ok, "{report}");
    assert!(report.contains("RDB preamble is OK, proceeding with AOF tail..."), "{report}");
    assert!(report.contains(&format!("size={}, ok_up_to={}", aof.len(), aof.len())), "{report}");

    let mut bad = corrupt_rdb();
    bad.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    std::fs::write(&path, &bad).unwrap();
    let (ok, report) = run_tool(tool, &path);
    assert!(!ok, "{report}");
    assert!(report.contains("List ziplist integrity check failed"), "{report}");
    assert!(report.contains("RDB preamble of AOF file is not sane, aborting."), "{report}");
}
