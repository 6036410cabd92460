//! The manifest of Redis 7.0's multi-part append-only file: which files in
//! `appenddirname` make up the dataset, and in which order.
//!
//! One line per file: `file <name> seq <n> type <b|h|i>`, the name quoted
//! (with the escapes of redis.conf) when it holds spaces, quotes or
//! non-printable bytes. `b` is the base (an RDB or AOF snapshot taken by
//! the last rewrite, at most one, always first), `h` a history file (a
//! base or incr file a rewrite made obsolete, to be deleted), `i` an incr
//! file (commands appended since; loaded in order after the base). Names:
//! `<appendfilename>.<seq>.base.rdb|aof`, `<appendfilename>.<seq>.incr.aof`,
//! the manifest itself `<appendfilename>.manifest`.
//!
//! Parsing accepts and refuses what redis-server 7.0 does, with its error
//! texts: `#` comment lines, keys in any case and in any order, unknown
//! key/value pairs (forward compatibility), lines of at most 1024 bytes
//! that end with a newline, a sequence that is lenient like C's `atoll`.

use std::fmt;
use std::io;
use std::path::Path;

use super::disk::Disk;

/// Longest manifest line Redis reads (without its newline).
const MAX_LINE: usize = 1024;

/// What a file of the manifest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Base,
    History,
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One file of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: i64,
    pub kind: FileKind,
}

/// A manifest that cannot be loaded, with the line at fault as Redis
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The 1-based line number and the trimmed line, when one is at fault.
    pub line: Option<(usize, String)>,
    pub message: &'static str,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((number, text)) = &self.line {
            write!(f, "reading the manifest file, at line {number}: '{text}': ")?;
        }
        f.write_str(self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Error texts (Redis 7.0's, which its test suite matches).
pub mod error {
    pub const EMPTY: &str = "Found an empty AOF manifest";
    pub const TOO_LONG: &str = "The AOF manifest file contains too long line";
    pub const FORMAT: &str = "Invalid AOF manifest file format";
    pub const PATH: &str = "File can't be a path, just a filename";
    pub const DUPLICATE_BASE: &str = "Found duplicate base file information";
    pub const NON_MONOTONIC: &str = "Found a non-monotonic sequence number";
    pub const UNKNOWN_TYPE: &str = "Unknown AOF file type";
}

/// The files of a multi-part AOF, and the sequence counters new names
/// come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    /// Obsolete files still on disk, to delete.
    pub history: Vec<AofFile>,
    /// Incr files in load order; the last is the one being appended to.
    pub incr: Vec<AofFile>,
    /// Sequence of the latest base (the next base gets one more).
    pub base_seq: i64,
    /// Sequence of the latest incr file (the next one gets one more).
    pub incr_seq: i64,
}

/// `<prefix>.manifest`: the manifest's file name.
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

/// `temp-<prefix>.manifest`: where a new manifest is written before the
/// rename that installs it.
pub fn temp_manifest_name(prefix: &str) -> String {
    format!("temp-{prefix}.manifest")
}

/// `temp-<prefix>.incr`: the incr file a rewrite starts, before it is
/// named in the manifest.
pub fn temp_incr_name(prefix: &str) -> String {
    format!("temp-{prefix}.incr")
}

/// C's `atoll`: optional blanks and sign, then digits up to the first
/// other byte; 0 when there are none. Saturates instead of overflowing.
fn lenient_i64(text: &[u8]) -> i64 {
    let mut rest = text;
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = value.saturating_mul(10).saturating_add(if negative { -digit } else { digit });
    }
    value
}

/// A name is a plain file name: no directory separator.
fn is_base_name(name: &[u8]) -> bool {
    !name.contains(&b'/') && !name.contains(&b'\\')
}

impl Manifest {
    /// Parses a manifest as redis-server 7.0 does when it starts.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut manifest = Manifest::default();
        let mut rest = bytes;
        let mut number = 0;
        if rest.is_empty() {
            return Err(ManifestError { line: None, message: error::EMPTY });
        }
        while !rest.is_empty() {
            // A line as a fixed buffer reads it: up to its newline, at
            // most MAX_LINE bytes; a longer one is read in pieces.
            let take = match memchr(b'\n', &rest[..rest.len().min(MAX_LINE)]) {
                Some(newline) => newline + 1,
                None => rest.len().min(MAX_LINE),
            };
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            number += 1;
            if chunk[0] == b'#' {
                continue;
            }
            if chunk.last() != Some(&b'\n') {
                return Err(ManifestError { line: None, message: error::TOO_LONG });
            }
            let trimmed = trim(chunk);
            let fail = |message| ManifestError {
                line: Some((number, String::from_utf8_lossy(trimmed).into_owned())),
                message,
            };
            let file = parse_line(trimmed).map_err(fail)?;
            manifest.add(file).map_err(fail)?;
        }
        Ok(manifest)
    }

    fn add(&mut self, file: AofFile) -> Result<(), &'static str> {
        match file.kind {
            FileKind::Base => {
                if self.base.is_some() {
                    return Err(error::DUPLICATE_BASE);
                }
                self.base_seq = file.seq;
                self.base = Some(file);
            }
            FileKind::History => self.history.push(file),
            FileKind::Incr => {
                if self.incr.last().is_some_and(|last| file.seq <= last.seq) || file.seq <= 0 {
                    return Err(error::NON_MONOTONIC);
                }
                self.incr_seq = file.seq;
                self.incr.push(file);
            }
        }
        Ok(())
    }

    /// The manifest's text: base, then history, then incr files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for file in self.base.iter().chain(&self.history).chain(&self.incr) {
            out.extend_from_slice(b"file ");
            let name = file.name.as_bytes();
            if name.iter().any(|&b| !(0x21..=0x7e).contains(&b) || b == b'"' || b == b'\\') {
                shoal_resp::inline::quote(&mut out, name);
            } else {
                out.extend_from_slice(name);
            }
            out.extend_from_slice(format!(" seq {} type {}\n", file.seq, file.kind.letter()).as_bytes());
        }
        out
    }

    /// True if no base or incr file is listed (nothing to load).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// The base and incr files in load order.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(&self.incr)
    }

    /// Adds a new incr file at the end (where appends go from now on) and
    /// returns its name.
    pub fn add_incr(&mut self, prefix: &str) -> &str {
        self.incr_seq += 1;
        let name = format!("{prefix}.{}.incr.aof", self.incr_seq);
        self.incr.push(AofFile { name, seq: self.incr_seq, kind: FileKind::Incr });
        &self.incr.last().expect("just pushed").name
    }

    /// The incr file appends go to, added if there is none.
    pub fn last_incr(&mut self, prefix: &str) -> &str {
        if self.incr.is_empty() {
            return self.add_incr(prefix);
        }
        &self.incr.last().expect("not empty").name
    }

    /// After a rewrite: a new base (an RDB file if `rdb`, else an AOF)
    /// replaces the old one, which becomes history, and returns its name.
    pub fn new_base(&mut self, prefix: &str, rdb: bool) -> &str {
        if let Some(mut old) = self.base.take() {
            old.kind = FileKind::History;
            self.history.insert(0, old);
        }
        self.base_seq += 1;
        let name = format!("{prefix}.{}.base.{}", self.base_seq, if rdb { "rdb" } else { "aof" });
        self.base = Some(AofFile { name, seq: self.base_seq, kind: FileKind::Base });
        &self.base.as_ref().expect("just set").name
    }

    /// After a rewrite: the incr files the new base covers become history;
    /// with `keep_last`, the last one stays (appends go on in it: the one
    /// opened when the rewrite started).
    pub fn retire_incr(&mut self, keep_last: bool) {
        let keep = usize::from(keep_last && !self.incr.is_empty());
        let retired = self.incr.len() - keep;
        for mut file in self.incr.drain(..retired).rev() {
            file.kind = FileKind::History;
            self.history.insert(0, file);
        }
    }

    /// Reads `<dir>/<prefix>.manifest`: None if the directory or the
    /// manifest does not exist (a fresh start or an old single-file AOF).
    pub fn load(disk: &dyn Disk, dir: &Path, prefix: &str) -> io::Result<Option<Result<Manifest, ManifestError>>> {
        if !disk.dir_exists(dir) {
            return Ok(None);
        }
        let path = dir.join(manifest_name(prefix));
        if disk.size(&path)?.is_none() {
            return Ok(None);
        }
        Ok(Some(Manifest::parse(&disk.read(&path)?)))
    }

    /// Writes the manifest so a crash leaves either the old or the new one:
    /// a temporary file, synced, renamed over the manifest, then the
    /// directory synced (which also makes new AOF files' names durable).
    pub fn persist(&self, disk: &dyn Disk, dir: &Path, prefix: &str) -> io::Result<()> {
        let temp = dir.join(temp_manifest_name(prefix));
        let mut file = disk.create(&temp)?;
        file.append(&self.to_bytes())?;
        file.sync()?;
        drop(file);
        disk.rename(&temp, &dir.join(manifest_name(prefix)))?;
        disk.sync_dir(dir)
    }

    /// Deletes the history files and persists the manifest without them.
    /// A file already gone counts as deleted.
    pub fn delete_history(&mut self, disk: &dyn Disk, dir: &Path, prefix: &str) -> io::Result<()> {
        if self.history.is_empty() {
            return Ok(());
        }
        for file in std::mem::take(&mut self.history) {
            match disk.remove(&dir.join(&file.name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    self.history.push(file);
                    return Err(e);
                }
                _ => {}
            }
        }
        self.persist(disk, dir, prefix)
    }
}

fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    &line[start..end]
}

/// One manifest line (trimmed, not a comment) into a file.
fn parse_line(line: &[u8]) -> Result<AofFile, &'static str> {
    if line.is_empty() {
        return Err(error::FORMAT);
    }
    let args = shoal_resp::inline::split_args_owned(line).ok_or(error::FORMAT)?;
    if args.len() < 6 || args.len() % 2 != 0 {
        return Err(error::FORMAT);
    }
    let (mut name, mut seq, mut kind) = (None, 0, None);
    for pair in args.chunks(2) {
        let value = &pair[1];
        if pair[0].eq_ignore_ascii_case(b"file") {
            if !is_base_name(value) {
                return Err(error::PATH);
            }
            name = Some(String::from_utf8_lossy(value).into_owned());
        } else if pair[0].eq_ignore_ascii_case(b"seq") {
            seq = lenient_i64(value);
        } else if pair[0].eq_ignore_ascii_case(b"type") {
            kind = Some(value.first().copied().unwrap_or(0));
        }
    }
    let (Some(name), Some(kind)) = (name, kind) else {
        return Err(error::FORMAT);
    };
    if seq == 0 || kind == 0 {
        return Err(error::FORMAT);
    }
    let kind = match kind {
        b'b' => FileKind::Base,
        b'h' => FileKind::History,
        b'i' => FileKind::Incr,
        _ => return Err(error::UNKNOWN_TYPE),
    };
    Ok(AofFile { name, seq, kind })
}

#[cfg(test)]
mod tests;
