//! Finding the keys of a request from the command's key specs.
//!
//! The engine uses this to decide which shards a command must lock, and
//! COMMAND GETKEYS reports it. A command whose keys cannot be found (bad
//! arguments, a spec that needs parsing) is reported as such so callers can
//! fall back to locking everything.

use crate::registry::{Command, KeyFlags};
use crate::spec::{Begin, Find};

/// One key: its index in the argument vector and its spec's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRef {
    pub index: usize,
    pub flags: KeyFlags,
}

/// Why keys could not be determined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysError {
    /// The arguments do not fit the specs (the command will reject them).
    Invalid,
}

/// Finds the keys of `argv` (argv[0] is the command name; for subcommands
/// argv[1] is the subcommand name) the way Redis does: key specs when they
/// are complete, the command's own procedure otherwise.
pub fn find_keys(cmd: &Command, argv: &[&[u8]], out: &mut Vec<KeyRef>) -> Result<(), KeysError> {
    out.clear();
    let has_key_spec = cmd.key_specs.iter().any(|s| !s.flags.contains(KeyFlags::NOT_KEY));
    let variable = cmd.key_specs.iter().any(|s| s.flags.contains(KeyFlags::VARIABLE_FLAGS));
    if has_key_spec && !variable && from_specs(cmd, argv, out).is_ok() {
        return Ok(());
    }
    out.clear();
    match cmd.name {
        "sort" => sort_keys(argv, out, true),
        "sort_ro" => sort_keys(argv, out, false),
        "migrate" => migrate_keys(argv, out),
        "set" => set_keys(argv, out),
        "bitfield" => bitfield_keys(argv, out),
        _ if has_key_spec => from_specs(cmd, argv, out),
        _ => Ok(()),
    }
}

/// Keys from the specs alone (Redis's getKeysUsingKeySpecs).
pub fn from_specs(cmd: &Command, argv: &[&[u8]], out: &mut Vec<KeyRef>) -> Result<(), KeysError> {
    let argc = argv.len() as i64;
    for spec in &cmd.key_specs {
        if spec.flags.contains(KeyFlags::NOT_KEY) {
            continue;
        }
        let first: i64 = match spec.begin {
            Begin::Index(pos) => pos as i64,
            Begin::Keyword { keyword, start_from } => {
                match find_keyword(argv, keyword, start_from as i64) {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => return Err(KeysError::Invalid),
        };
        let (first, last, step) = match spec.find {
            Find::Range { last_key, step, limit } => {
                let last = if last_key >= 0 {
                    first + last_key as i64
                } else if limit == 0 {
                    argc + last_key as i64
                } else {
                    first + ((argc - first) / limit as i64 + last_key as i64)
                };
                (first, last, step as i64)
            }
            Find::KeyNum { key_num_index, first_key, step } => {
                let at = first + key_num_index as i64;
                let count = argv
                    .get(at as usize)
                    .and_then(|a| shoal_resp::number::parse_i64(a))
                    .filter(|&n| n >= 0)
                    .ok_or(KeysError::Invalid)?;
                let first = first + first_key as i64;
                (first, first + count - 1, step as i64)
            }
            Find::Unknown => return Err(KeysError::Invalid),
        };
        if last >= argc || last < first || first >= argc {
            return Err(KeysError::Invalid);
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef { index: i as usize, flags: spec.flags });
            i += step.max(1);
        }
        if spec.flags.contains(KeyFlags::INCOMPLETE) {
            return Err(KeysError::Invalid);
        }
    }
    Ok(())
}

fn find_keyword(argv: &[&[u8]], keyword: &str, start_from: i64) -> Option<i64> {
    let argc = argv.len() as i64;
    let forward = start_from > 0;
    let mut i = if forward { start_from } else { argc + start_from };
    while i >= 1 && i < argc {
        if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
            return Some(i);
        }
        i += if forward { 1 } else { -1 };
    }
    None
}

fn sort_keys(argv: &[&[u8]], out: &mut Vec<KeyRef>, with_store: bool) -> Result<(), KeysError> {
    if argv.len() < 2 {
        return Err(KeysError::Invalid);
    }
    out.push(KeyRef { index: 1, flags: KeyFlags(KeyFlags::RO.0 | KeyFlags::ACCESS.0) });
    if !with_store {
        return Ok(());
    }
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let arg = argv[i];
        if arg.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            // The last STORE wins, as in SORT itself.
            store = Some(i + 1);
        } else if arg.eq_ignore_ascii_case(b"get") || arg.eq_ignore_ascii_case(b"by") {
            i += 1;
        }
        i += 1;
    }
    if let Some(index) = store {
        out.push(KeyRef { index, flags: KeyFlags(KeyFlags::OW.0 | KeyFlags::UPDATE.0) });
    }
    Ok(())
}

/// SET's key is read as well as written only when GET is given.
fn set_keys(argv: &[&[u8]], out: &mut Vec<KeyRef>) -> Result<(), KeysError> {
    let with_get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    let flags = if with_get {
        KeyFlags(KeyFlags::RW.0 | KeyFlags::ACCESS.0 | KeyFlags::UPDATE.0)
    } else {
        KeyFlags(KeyFlags::OW.0 | KeyFlags::UPDATE.0)
    };
    out.push(KeyRef { index: 1, flags });
    Ok(())
}

/// BITFIELD is read-only when it only has GET (and OVERFLOW) operations.
fn bitfield_keys(argv: &[&[u8]], out: &mut Vec<KeyRef>) -> Result<(), KeysError> {
    let mut read_only = true;
    let mut i = 2;
    while i < argv.len() {
        let remaining = argv.len() - i - 1;
        let arg = argv[i];
        if arg.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            i += 2;
        } else if (arg.eq_ignore_ascii_case(b"set") || arg.eq_ignore_ascii_case(b"incrby")) && remaining >= 3 {
            read_only = false;
            break;
        } else if arg.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            i += 1;
        } else {
            // A syntax error: assume it writes.
            read_only = false;
            break;
        }
        i += 1;
    }
    let flags = if read_only {
        KeyFlags(KeyFlags::RO.0 | KeyFlags::ACCESS.0)
    } else {
        KeyFlags(KeyFlags::RW.0 | KeyFlags::ACCESS.0 | KeyFlags::UPDATE.0)
    };
    out.push(KeyRef { index: 1, flags });
    Ok(())
}

fn migrate_keys(argv: &[&[u8]], out: &mut Vec<KeyRef>) -> Result<(), KeysError> {
    let flags = KeyFlags(KeyFlags::RW.0 | KeyFlags::ACCESS.0 | KeyFlags::DELETE.0);
    let (mut first, mut count) = (3usize, 1usize);
    if argv.len() > 6 {
        let mut i = 6;
        while i < argv.len() {
            let arg = argv[i];
            if arg.eq_ignore_ascii_case(b"keys") {
                if !argv[3].is_empty() {
                    count = 0;
                } else {
                    first = i + 1;
                    count = argv.len() - first;
                }
                break;
            }
            if arg.eq_ignore_ascii_case(b"auth") {
                i += 1;
            } else if arg.eq_ignore_ascii_case(b"auth2") {
                i += 2;
            }
            i += 1;
        }
    }
    if first + count > argv.len() {
        return Err(KeysError::Invalid);
    }
    out.extend((first..first + count).map(|index| KeyRef { index, flags }));
    Ok(())
}
