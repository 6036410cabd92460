use super::*;
use crate::aof::encode_command;

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode_command(&mut out, &args);
    out
}

/// A stand-in for the RDB checker: the RDB data ends after the first
/// 0xFF byte and its 8-byte checksum.
fn fake_rdb(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let end = bytes.iter().position(|&b| b == 0xff).ok_or("no EOF opcode")?;
    Ok((end + 9).min(bytes.len()) as u64)
}

fn check(args: &[&str], answer: &str) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut out = Vec::new();
    let mut input = answer.as_bytes();
    let status = run(&args, &mut out, &mut input, &fake_rdb);
    (status, String::from_utf8(out).unwrap())
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_valid_old_style_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appendonly.aof");
    std::fs::write(&file, [cmd(&["set", "foo", "hello"]), cmd(&["set", "bar", "world"])].concat()).unwrap();
    let (status, out) = check(&[path_str(&file)], "");
    assert_eq!(status, 0, "{out}");
    assert!(out.starts_with("Start checking Old-Style AOF\n"), "{out}");
    assert!(out.contains("ok_up_to_line=15, diff=0"), "{out}");
    assert!(out.ends_with("is valid\n"), "{out}");
}

#[test]
fn a_bad_byte_is_reported_and_fix_cuts_after_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appendonly.aof");
    let good = cmd(&["set", "foo", "hello"]);
    std::fs::write(&file, [good.clone(), b"!!!".to_vec()].concat()).unwrap();
    let (status, out) = check(&[path_str(&file)], "");
    assert_eq!(status, 1);
    assert!(out.contains(&format!("ok_up_to={}, ok_up_to_line=8, diff=3", good.len())), "{out}");
    assert!(out.contains("0x              21: Expected prefix '*', got: '!'"), "{out}");
    assert!(out.contains("not valid"), "{out}");
    let (status, out) = check(&["--fix", path_str(&file)], "n\n");
    assert_eq!(status, 1, "{out}");
    assert!(out.ends_with("Aborting...\n"), "{out}");
    assert_eq!(std::fs::read(&file).unwrap().len(), good.len() + 3);
    let (status, out) = check(&["--fix", path_str(&file)], "y\n");
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("Successfully truncated AOF"), "{out}");
    assert_eq!(std::fs::read(&file).unwrap(), good);
}

fn multi_part(dir: &Path, base: &[u8], incr: &[u8]) -> PathBuf {
    let aof = dir.join("appendonlydir");
    std::fs::create_dir_all(&aof).unwrap();
    std::fs::write(aof.join("appendonly.aof.1.base.aof"), base).unwrap();
    std::fs::write(aof.join("appendonly.aof.1.incr.aof"), incr).unwrap();
    let manifest = aof.join("appendonly.aof.manifest");
    std::fs::write(
        &manifest,
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    manifest
}

#[test]
fn a_multi_part_aof_with_an_rdb_base() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = b"REDIS0010 data \xff12345678".to_vec();
    base.extend(cmd(&["set", "tail", "1"]));
    let manifest = multi_part(dir.path(), &base, &cmd(&["set", "foo", "hello"]));
    let (status, out) = check(&[path_str(&manifest)], "");
    assert_eq!(status, 0, "{out}");
    let order = [
        "Start checking Multi Part AOF",
        "Start to check BASE AOF (RDB format).",
        "RDB preamble is OK, proceeding with AOF tail...",
        "BASE AOF appendonly.aof.1.base.aof is valid",
        "Start to check INCR files.",
        "INCR AOF appendonly.aof.1.incr.aof is valid",
        "All AOF files and manifest are valid",
    ];
    let mut rest = out.as_str();
    for line in order {
        let at = rest.find(line).unwrap_or_else(|| panic!("{line:?} missing or out of order in:\n{out}"));
        rest = &rest[at + line.len()..];
    }
}

#[test]
fn only_the_last_file_may_be_cut() {
    let dir = tempfile::tempdir().unwrap();
    let base = [cmd(&["set", "foo", "hello"]), cmd(&["multi"]), cmd(&["set", "bar", "world"])].concat();
    let manifest = multi_part(dir.path(), &base, &cmd(&["set", "foo", "hello"]));
    let (status, out) = check(&[path_str(&manifest)], "");
    assert_eq!(status, 1);
    assert!(out.contains("Reached EOF before reading EXEC for MULTI"), "{out}");
    assert!(out.contains("not valid"), "{out}");
    let (status, out) = check(&["--fix", path_str(&manifest)], "y\n");
    assert_eq!(status, 1);
    assert!(out.contains("Failed to truncate AOF appendonly.aof.1.base.aof because it is not the last file"), "{out}");
}

#[test]
fn a_torn_last_incr_file_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let good = [cmd(&["incr", "foo"]), cmd(&["incr", "foo"])].concat();
    let torn = [good.clone(), cmd(&["incr", "foo"])[..10].to_vec()].concat();
    let manifest = multi_part(dir.path(), &cmd(&["set", "a", "1"]), &torn);
    let (status, out) = check(&["--fix", path_str(&manifest)], "y\n");
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("Successfully truncated AOF appendonly.aof.1.incr.aof"), "{out}");
    let incr = manifest.parent().unwrap().join("appendonly.aof.1.incr.aof");
    assert_eq!(std::fs::read(incr).unwrap(), good);
    assert_eq!(check(&[path_str(&manifest)], "").0, 0);
}

#[test]
fn truncating_to_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appendonly.aof");
    let mut bytes = b"#TS:1628217470\r\n".to_vec();
    bytes.extend(cmd(&["set", "foo1", "bar1"]));
    bytes.extend_from_slice(b"#TS:1628217471\r\n");
    let cut = bytes.len();
    bytes.extend(cmd(&["set", "foo2", "bar2"]));
    bytes.extend_from_slice(b"#TS:1628217472\r\n");
    std::fs::write(&file, &bytes).unwrap();
    let (status, out) = check(&["--truncate-to-timestamp", "1628217473", path_str(&file)], "");
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("Truncate nothing"), "{out}");
    let (status, out) = check(&["--truncate-to-timestamp", "1628217471", path_str(&file)], "");
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("Successfully truncated AOF") && out.contains("to timestamp 1628217471"), "{out}");
    assert_eq!(std::fs::read(&file).unwrap().len(), cut + cmd(&["set", "foo2", "bar2"]).len());
    let (status, out) = check(&["--truncate-to-timestamp", "1628217469", path_str(&file)], "");
    assert_eq!(status, 1);
    assert!(out.contains("aborting"), "{out}");
}

#[test]
fn usage_errors() {
    assert_eq!(check(&[], "").0, 1);
    assert_eq!(check(&["--bogus", "x"], "").0, 1);
    let (status, out) = check(&["--truncate-to-timestamp", "soon", "x"], "");
    assert_eq!(status, 1);
    assert!(out.contains("Invalid timestamp"));
    let (status, out) = check(&["/nonexistent/file"], "");
    assert_eq!(status, 1);
    assert!(out.contains("Cannot open file"));
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.manifest");
    std::fs::write(&manifest, "file a seq 1 type z\n").unwrap();
    let (status, out) = check(&[path_str(&manifest)], "");
    assert_eq!(status, 1);
    assert!(out.contains("Unknown AOF file type"), "{out}");
}
