//! `shoal-check-aof`: checks an append-only file as redis-check-aof 7.0
//! does, with the same arguments and report lines (Redis's test suite
//! matches them), and can cut a file back to its last valid command.
//!
//! `shoal-check-aof [--fix | --truncate-to-timestamp <secs>] <file>`, where
//! the file is a manifest (each base and incr file it lists is checked, in
//! load order; only the last may be cut) or a single old-style AOF (with
//! or without an RDB preamble). A file is valid when it parses to its end
//! with every MULTI closed by an EXEC. Otherwise the report gives the
//! offset and line of the first error and `ok_up_to`, the end of the last
//! valid command outside a transaction; `--fix` cuts the last file there
//! after asking for confirmation on standard input.
//! `--truncate-to-timestamp` cuts the last file before the first `#TS:`
//! annotation later than the given time.

use std::fs::File;
use std::io::{self, BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::disk::{Disk, RealDisk};
use super::manifest::Manifest;
use super::parse::{self, Corruption};
use super::reader::{AofReader, CorruptWhat, Entry, ReadError};

/// Checks an RDB preamble or base file: Ok(end offset of the RDB data) or
/// a description of what is wrong.
pub type RdbCheck<'a> = &'a dyn Fn(&Path) -> Result<u64, String>;

/// What the checker was asked to do.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Check,
    Fix,
    TruncateTo(i64),
}

/// How checking one file ended (the run stops at once on failures).
enum Checked {
    Valid,
    Empty,
    Truncated,
    TruncatedToTimestamp,
}

/// A failure: the message is printed and the exit status is 1.
struct Abort(String);

impl From<io::Error> for Abort {
    fn from(e: io::Error) -> Self {
        Abort(format!("I/O error: {e}"))
    }
}

struct Checker<'a> {
    mode: Mode,
    out: &'a mut dyn Write,
    input: &'a mut dyn BufRead,
    rdb: RdbCheck<'a>,
}

/// Runs the checker with `args` (without the program name); returns the
/// exit status.
pub fn run(args: &[String], out: &mut dyn Write, input: &mut dyn BufRead, rdb: RdbCheck<'_>) -> i32 {
    let (mode, path) = match args {
        [path] => (Mode::Check, path),
        [flag, path] if flag == "--fix" => (Mode::Fix, path),
        [flag, secs, path] if flag == "--truncate-to-timestamp" => match secs.parse::<i64>() {
            Ok(secs) => (Mode::TruncateTo(secs), path),
            Err(_) => {
                let _ = writeln!(out, "Invalid timestamp, aborting...");
                return 1;
            }
        },
        _ => {
            let _ = writeln!(
                out,
                "Usage: shoal-check-aof [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>"
            );
            return 1;
        }
    };
    let mut checker = Checker { mode, out, input, rdb };
    match checker.check_path(Path::new(path)) {
        Ok(()) => 0,
        Err(Abort(message)) => {
            let _ = writeln!(checker.out, "{message}");
            1
        }
    }
}

/// A manifest is small: a file is read this far to tell what it is.
const HEAD: u64 = 1 << 20;

fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(File::open(path)?, HEAD), &mut head)?;
    Ok(head)
}

/// True if `bytes` look like a manifest: a non-comment line starts with
/// `file`.
fn looks_like_manifest(bytes: &[u8]) -> bool {
    bytes.split(|&b| b == b'\n').any(|line| !line.starts_with(b"#") && line.starts_with(b"file"))
}

impl Checker<'_> {
    fn say(&mut self, line: &str) -> Result<(), Abort> {
        writeln!(self.out, "{line}")?;
        Ok(())
    }

    fn check_path(&mut self, path: &Path) -> Result<(), Abort> {
        let name = path.display().to_string();
        let head = read_head(path).map_err(|e| Abort(format!("Cannot open file {name}: {e}, aborting...")))?;
        if looks_like_manifest(&head) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return self.check_multi_part(&dir, &head);
        }
        self.say("Start checking Old-Style AOF")?;
        let preamble = head.len() >= 8 && parse::is_rdb(&head);
        let outcome = self.check_file(&name, path, true, preamble)?;
        self.report("AOF", &name, outcome)
    }

    fn check_multi_part(&mut self, dir: &Path, manifest: &[u8]) -> Result<(), Abort> {
        self.say("Start checking Multi Part AOF")?;
        let manifest =
            Manifest::parse(manifest).map_err(|e| Abort(format!("*** FATAL AOF MANIFEST FILE ERROR ***\n{e}")))?;
        let files: Vec<_> = manifest.load_order().cloned().collect();
        for (i, file) in files.iter().enumerate() {
            let path: PathBuf = dir.join(&file.name);
            let last = i + 1 == files.len();
            let is_base = manifest.base.as_ref() == Some(file);
            if is_base {
                let rdb = file_is_rdb(&path)?;
                self.say(&format!("Start to check BASE AOF ({} format).", if rdb { "RDB" } else { "RESP" }))?;
                let outcome = self.check_file(&file.name, &path, last, rdb)?;
                self.report("BASE AOF", &file.name, outcome)?;
            } else {
                if i == usize::from(manifest.base.is_some()) {
                    self.say("Start to check INCR files.")?;
                }
                let outcome = self.check_file(&file.name, &path, last, false)?;
                self.report("INCR AOF", &file.name, outcome)?;
            }
        }
        self.say("All AOF files and manifest are valid")
    }

    fn report(&mut self, what: &str, name: &str, outcome: Checked) -> Result<(), Abort> {
        let line = match (outcome, &self.mode) {
            (Checked::Valid, _) => format!("{what} {name} is valid"),
            (Checked::Empty, _) => format!("{what} {name} is empty"),
            (Checked::TruncatedToTimestamp, Mode::TruncateTo(secs)) => {
                format!("Successfully truncated AOF {name} to timestamp {secs}")
            }
            (_, _) => format!("Successfully truncated AOF {name}"),
        };
        self.say(&line)
    }

    /// Checks one file; `last`: it may be cut.
    fn check_file(&mut self, name: &str, path: &Path, last: bool, preamble: bool) -> Result<Checked, Abort> {
        let mut file =
            File::open(path).map_err(|e| Abort(format!("Cannot open file {}: {e}, aborting...", path.display())))?;
        let size = file.metadata()?.len();
        if size == 0 {
            return Ok(Checked::Empty);
        }
        let mut start = 0;
        if preamble {
            start =
                (self.rdb)(path).map_err(|e| Abort(format!("{e}\nRDB preamble of AOF file is not sane, aborting.")))?;
            self.say("RDB preamble is OK, proceeding with AOF tail...")?;
            file.seek(SeekFrom::Start(start))?;
        }
        let mut reader = AofReader::new(io::BufReader::new(file), start);
        let (ok_up_to, error) = loop {
            let item_start = reader.offset();
            match reader.next_entry() {
                Ok(None) => break (reader.offset(), None),
                Ok(Some(Entry::Command(_))) => {}
                Ok(Some(Entry::Annotation(text))) => {
                    if self.passes_timestamp(&text, name, path, item_start, last)? {
                        return Ok(Checked::TruncatedToTimestamp);
                    }
                }
                Err(ReadError::Io(e)) => {
                    return Err(Abort(format!("Failed to read from AOF {name}: {e}, aborting...")))
                }
                Err(ReadError::Truncated { valid_up_to, at, line }) => {
                    let pos = if reader.in_multi() { valid_up_to } else { at };
                    let text = if reader.offset() == size && reader.in_multi() {
                        "Reached EOF before reading EXEC for MULTI".to_string()
                    } else {
                        format!("Unexpected end of file at offset {size}")
                    };
                    break (pos, Some((at, line, text)));
                }
                Err(ReadError::Corrupt { at, line, item_start, valid_up_to, what }) => {
                    let pos = if reader.in_multi() { valid_up_to } else { item_start };
                    if let CorruptWhat::Format(Corruption::Prefix { expected: b'*', .. }) = what {
                        self.say(&format!("AOF {name} format error"))?;
                    }
                    break (pos, Some((at, line, what.to_string())));
                }
            }
        };
        let line = error.as_ref().map_or(reader.line(), |e| e.1);
        if let Some((at, _, text)) = &error {
            self.say(&format!("0x{at:16x}: {text}"))?;
        }
        let diff = size - ok_up_to;
        if diff == 0 && matches!(self.mode, Mode::TruncateTo(_)) {
            if let Mode::TruncateTo(secs) = self.mode {
                self.say(&format!("Truncate nothing in AOF {name} to timestamp {secs}"))?;
            }
            return Ok(Checked::Valid);
        }
        self.say(&format!(
            "AOF analyzed: filename={name}, size={size}, ok_up_to={ok_up_to}, ok_up_to_line={line}, diff={diff}"
        ))?;
        if diff == 0 {
            return Ok(Checked::Valid);
        }
        if self.mode != Mode::Fix {
            return Err(Abort(format!("AOF {name} is not valid. Use the --fix option to try fixing it.")));
        }
        if !last {
            return Err(Abort(format!("Failed to truncate AOF {name} because it is not the last file")));
        }
        self.say(&format!(
            "This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {ok_up_to} bytes"
        ))?;
        write!(self.out, "Continue? [y/N]: ")?;
        self.out.flush()?;
        let mut answer = String::new();
        self.input.read_line(&mut answer)?;
        if !answer.trim_start().to_ascii_lowercase().starts_with('y') {
            return Err(Abort("Aborting...".to_string()));
        }
        RealDisk.truncate(path, ok_up_to).map_err(|e| Abort(format!("Failed to truncate AOF {name}: {e}")))?;
        Ok(Checked::Truncated)
    }

    /// With --truncate-to-timestamp, cuts the file at an annotation later
    /// than the time (true if it did).
    fn passes_timestamp(&mut self, text: &[u8], name: &str, path: &Path, at: u64, last: bool) -> Result<bool, Abort> {
        let Mode::TruncateTo(limit) = self.mode else { return Ok(false) };
        if !text.starts_with(b"#TS:") {
            return Ok(false);
        }
        let stamp = parse::timestamp(text).ok_or_else(|| Abort("Invalid timestamp annotation".to_string()))?;
        if stamp <= limit {
            return Ok(false);
        }
        let path_text = path.display();
        if at == 0 {
            return Err(Abort(format!("AOF {path_text} has nothing before timestamp {limit}, aborting...")));
        }
        if !last {
            return Err(Abort(format!(
                "Failed to truncate AOF {path_text} to timestamp {limit} to offset {at} because it is not the last file.\n\
                 If you insist, please delete all files after this file according to the manifest file and delete the \
                 corresponding records in manifest file manually. Then re-run shoal-check-aof."
            )));
        }
        RealDisk
            .truncate(path, at)
            .map_err(|e| Abort(format!("Failed to truncate AOF {name} to timestamp {limit}: {e}")))?;
        Ok(true)
    }
}

/// True if the file holds RDB data (a base in RDB format, or an old AOF
/// with an RDB preamble).
fn file_is_rdb(path: &Path) -> Result<bool, Abort> {
    let mut head = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(File::open(path)?, 8), &mut head)?;
    Ok(head.len() == 8 && parse::is_rdb(&head))
}

#[cfg(test)]
mod tests;
