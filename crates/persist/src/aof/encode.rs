//! Writing commands into an append-only file: each command as a RESP
//! multibulk of its arguments, a `SELECT` before it when its database is
//! not the one the file last selected, and with `aof-timestamp-enabled` a
//! `#TS:<unix seconds>` annotation when the second changed since the last
//! one.

pub use shoal_engine::propagate::encode as encode_command;

/// The state of one AOF's command stream.
#[derive(Clone, Debug, Default)]
pub struct AofEncoder {
    selected_db: Option<usize>,
    /// Second of the last annotation written (None: none yet).
    last_timestamp: Option<i64>,
    timestamps: bool,
}

impl AofEncoder {
    /// A stream for a new file: its first command selects its database.
    pub fn new(timestamps: bool) -> AofEncoder {
        AofEncoder { selected_db: None, last_timestamp: None, timestamps }
    }

    /// Turns timestamp annotations on or off (CONFIG SET).
    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    /// Forgets the selected database (a new incr file starts: its first
    /// command must select again).
    pub fn reset(&mut self) {
        self.selected_db = None;
    }

    /// Appends `argv`, run in `db` at `now_secs`, to `out`.
    pub fn command(&mut self, out: &mut Vec<u8>, db: usize, argv: &[&[u8]], now_secs: i64) {
        if self.timestamps && self.last_timestamp.is_none_or(|last| last < now_secs) {
            self.timestamp(out, now_secs);
        }
        if self.selected_db != Some(db) {
            encode_command(out, &[b"SELECT", db.to_string().as_bytes()]);
            self.selected_db = Some(db);
        }
        encode_command(out, argv);
    }

    /// Appends a `#TS:` annotation now, whatever the last one said (at the
    /// start of a file, so a truncation to a time can find it).
    pub fn timestamp(&mut self, out: &mut Vec<u8>, now_secs: i64) {
        out.extend_from_slice(format!("#TS:{now_secs}\r\n").as_bytes());
        self.last_timestamp = Some(now_secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::reader::{AofReader, Entry};

    #[test]
    fn commands_select_their_database_once_and_read_back() {
        let mut enc = AofEncoder::new(true);
        let mut out = Vec::new();
        enc.command(&mut out, 0, &[b"SET", b"k", b"v\r\n"], 100);
        enc.command(&mut out, 0, &[b"INCR", b"n"], 100);
        enc.command(&mut out, 3, &[b"DEL", b""], 101);
        enc.reset();
        enc.command(&mut out, 3, &[b"PING"], 101);
        let mut reader = AofReader::new(out.as_slice(), 0);
        let mut seen = Vec::new();
        while let Some(entry) = reader.next_entry().unwrap() {
            seen.push(match entry {
                Entry::Command(args) => {
                    args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
                }
                Entry::Annotation(text) => String::from_utf8_lossy(&text).into_owned(),
            });
        }
        let expected =
            ["#TS:100", "SELECT 0", "SET k v\r\n", "INCR n", "#TS:101", "SELECT 3", "DEL ", "SELECT 3", "PING"];
        assert_eq!(seen, expected);
        assert_eq!(reader.offset(), out.len() as u64);
    }

    #[test]
    fn the_multibulk_form_is_redis_s() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"key", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
    }
}
