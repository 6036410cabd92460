//! Checking a whole RDB file: its structure, every value (decoded
//! completely, so each packed encoding is checked) and its checksum.
//! `shoal-check-rdb` prints the report; the server logs it when loading a
//! file fails, as redis-server runs redis-check-rdb then.
//!
//! Report lines (`say` gets each one):
//!
//! ```text
//! [offset 0] Checking RDB file dump.rdb
//! [offset 9] RDB version 10
//! [offset 27] AUX FIELD redis-ver = '7.0.15'
//! [offset 80] Selecting DB ID 0
//! [offset 120] Checksum OK
//! [offset 120] \o/ RDB looks OK! \o/
//! [info] 2 keys read
//! [info] 1 expires
//! [info] 0 already expired
//! ```
//!
//! or, at the first problem, `--- RDB ERROR DETECTED ---`, the offset and
//! the error, the key and type being read if any, then the `[info]` lines.

use std::io::Read;

use super::decode::DecodeLimits;
use super::error::Error;
use super::reader::{Item, Reader};

/// What a valid file held.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub version: u32,
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    /// Empty collections (Redis skips them on load).
    pub empty_keys: u64,
    /// Where the RDB data ends (after its checksum): an AOF with an RDB
    /// preamble goes on there.
    pub end: u64,
}

/// The first problem found.
#[derive(Debug)]
pub struct Failure {
    /// Where the item that failed starts.
    pub offset: u64,
    pub error: Error,
    /// The key whose value failed to decode, if it was one.
    pub key: Option<Vec<u8>>,
    pub kind: Option<u8>,
}

/// The name of a value type byte, for the report.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "string",
        1 => "list-linked",
        2 => "set-hashtable",
        3 => "zset-v1",
        4 => "hash-hashtable",
        5 => "zset-v2",
        6 => "module-pre-release",
        7 => "module-value",
        9 => "hash-zipmap",
        10 => "list-ziplist",
        11 => "set-intset",
        12 => "zset-ziplist",
        13 => "hash-ziplist",
        14 => "quicklist",
        15 => "stream",
        16 => "hash-listpack",
        17 => "zset-listpack",
        18 => "quicklist-v2",
        19 => "stream-v2",
        _ => "unknown",
    }
}

/// Checks the RDB data `src` (named `name` in the report) against `now_ms`
/// for the expired count; reports through `say`.
pub fn check<R: Read>(src: R, name: &str, now_ms: i64, say: &mut dyn FnMut(String)) -> Result<Summary, Failure> {
    say(format!("[offset 0] Checking RDB file {name}"));
    let mut summary = Summary::default();
    let result = walk(src, now_ms, &mut summary, say);
    if let Err(failure) = &result {
        say("--- RDB ERROR DETECTED ---".to_string());
        say(format!("[offset {}] {}", failure.offset, failure.error));
        if let Some(key) = &failure.key {
            say(format!("[additional info] Reading key '{}'", String::from_utf8_lossy(key)));
        }
        if let Some(kind) = failure.kind {
            say(format!("[additional info] Reading type {kind} ({})", kind_name(kind)));
        }
    }
    say(format!("[info] {} keys read", summary.keys));
    say(format!("[info] {} expires", summary.expires));
    say(format!("[info] {} already expired", summary.already_expired));
    if summary.empty_keys > 0 {
        say(format!("[info] {} empty keys skipped", summary.empty_keys));
    }
    result
}

/// Checks the RDB data at the start of the file at `path` (an RDB file,
/// or an AOF's RDB preamble or base) without a report: Ok(where the RDB
/// data ends), or the failure's report lines.
pub fn rdb_data_end(path: &std::path::Path) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("Cannot open {}: {e}", path.display()))?;
    let mut lines = Vec::new();
    let name = path.display().to_string();
    let mut keep = |line: String| lines.push(line);
    match check(std::io::BufReader::new(file), &name, now_ms(), &mut keep) {
        Ok(summary) => Ok(summary.end),
        Err(_) => {
            let from = lines.iter().position(|l| l.starts_with("--- ")).unwrap_or(0);
            Err(lines[from..].join("\n"))
        }
    }
}

/// The time now in milliseconds (for the already-expired count).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn walk<R: Read>(src: R, now_ms: i64, summary: &mut Summary, say: &mut dyn FnMut(String)) -> Result<Summary, Failure> {
    let fail = |offset: usize, error: Error| Failure { offset: offset as u64, error, key: None, kind: None };
    let mut reader = Reader::new(src).map_err(|e| fail(0, e))?;
    summary.version = reader.version();
    say(format!("[offset {}] RDB version {}", reader.consumed(), summary.version));
    let limits = DecodeLimits::default();
    loop {
        let at = reader.consumed();
        let item = match reader.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => return Err(fail(at, e)),
        };
        match item {
            Item::Aux { key, value } => say(format!(
                "[offset {at}] AUX FIELD {} = '{}'",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&value)
            )),
            Item::SelectDb(db) => say(format!("[offset {at}] Selecting DB ID {db}")),
            Item::ResizeDb { .. } | Item::Function(_) => {}
            Item::Entry(entry) => match entry.decode(&limits) {
                Ok(_) => {
                    summary.keys += 1;
                    if let Some(expire) = entry.expire_ms {
                        summary.expires += 1;
                        summary.already_expired += u64::from(expire < now_ms);
                    }
                }
                Err(Error::EmptyKey) => summary.empty_keys += 1,
                Err(error) => {
                    return Err(Failure { offset: at as u64, error, key: Some(entry.key), kind: Some(entry.kind) })
                }
            },
        }
    }
    let end = reader.consumed();
    summary.end = end as u64;
    match reader.stored_checksum() {
        Some(0) => say(format!("[offset {end}] Checksum not checked: the file was written with checksums off")),
        Some(_) => say(format!("[offset {end}] Checksum OK")),
        None => {}
    }
    say(format!("[offset {end}] \\o/ RDB looks OK! \\o/"));
    Ok(summary.clone())
}

#[cfg(test)]
mod tests {
    use shoal_types::Value;

    use super::super::file::{Access, Writer};
    use super::super::{kind, opcode, EncodeOptions};
    use super::*;

    fn run(bytes: &[u8]) -> (Result<Summary, Failure>, Vec<String>) {
        let mut lines = Vec::new();
        let result = check(bytes, "dump.rdb", 1_000_000, &mut |l| lines.push(l));
        (result, lines)
    }

    fn sample_file(checksum: bool) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), EncodeOptions::default(), checksum);
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.select_db(0, 3, 2).unwrap();
        w.entry(b"a", &Value::string(b"x"), None, Access::None).unwrap();
        w.entry(b"b", &Value::Int(7), Some(5), Access::None).unwrap();
        w.entry(b"c", &Value::Int(8), Some(2_000_000), Access::None).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn a_valid_file_is_summarized_with_its_end_offset() {
        let bytes = sample_file(true);
        let (result, lines) = run(&bytes);
        let summary = result.unwrap();
        assert_eq!(
            summary,
            Summary { version: 10, keys: 3, expires: 2, already_expired: 1, empty_keys: 0, end: bytes.len() as u64 }
        );
        assert_eq!(lines[0], "[offset 0] Checking RDB file dump.rdb");
        assert!(lines.contains(&"[offset 9] AUX FIELD redis-ver = '7.0.15'".to_string()), "{lines:?}");
        assert!(lines.iter().any(|l| l.ends_with("Checksum OK")), "{lines:?}");
        assert_eq!(lines.last().unwrap(), "[info] 1 already expired");
        // RDB data followed by something else (an AOF's tail): the end is
        // where the RDB data stops.
        let mut with_tail = bytes.clone();
        with_tail.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(run(&with_tail).0.unwrap().end, bytes.len() as u64);
        let (result, lines) = run(&sample_file(false));
        assert!(result.is_ok());
        assert!(lines.iter().any(|l| l.contains("Checksum not checked")), "{lines:?}");
    }

    #[test]
    fn a_bad_checksum_and_a_corrupt_value_are_reported_with_their_offset() {
        let mut bytes = sample_file(true);
        let at = bytes.len() - 1;
        bytes[at] ^= 1;
        let (result, lines) = run(&bytes);
        assert!(matches!(result.unwrap_err().error, Error::Checksum { .. }));
        assert!(lines.iter().any(|l| l.contains("CRC error")), "{lines:?}");
        assert!(lines.contains(&"--- RDB ERROR DETECTED ---".to_string()));

        // A ziplist list whose ziplist is garbage, after a valid key.
        let mut bytes = b"REDIS0010".to_vec();
        bytes.extend_from_slice(&[opcode::SELECTDB, 0, kind::STRING, 1, b'a', 1, b'x']);
        let offset = bytes.len() as u64;
        bytes.extend_from_slice(&[kind::LIST_ZIPLIST, 1, b'k', 16]);
        bytes.extend_from_slice(&[b'A'; 16]);
        bytes.push(opcode::EOF);
        bytes.extend_from_slice(&[0; 8]);
        let (result, lines) = run(&bytes);
        let failure = result.unwrap_err();
        assert_eq!(failure.offset, offset);
        assert_eq!(failure.key.as_deref(), Some(&b"k"[..]));
        assert!(matches!(failure.error, Error::Integrity { what: "List ziplist", .. }), "{:?}", failure.error);
        assert!(lines.iter().any(|l| l.starts_with(&format!("[offset {offset}] List ziplist integrity check failed"))));
        assert!(lines.contains(&"[additional info] Reading type 10 (list-ziplist)".to_string()), "{lines:?}");
        assert!(lines.contains(&"[info] 1 keys read".to_string()), "{lines:?}");
    }

    #[test]
    fn truncated_files_and_bad_headers_fail() {
        let bytes = sample_file(true);
        for cut in [0, 5, 9, 20, bytes.len() - 9, bytes.len() - 1] {
            let (result, _) = run(&bytes[..cut]);
            assert!(result.is_err(), "cut at {cut}");
        }
        let mut newer = bytes.clone();
        newer[5..9].copy_from_slice(b"0011");
        assert!(matches!(run(&newer).0.unwrap_err().error, Error::Version(11)));
    }
}
