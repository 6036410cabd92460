//! Writing RDB files: a stream of opcodes and entries to any
//! `io::Write`, buffered, with the CRC64 computed on the way.

use std::io::{self, Write};

use shoal_types::Value;

use super::encode::{encode_value, EncodeOptions};
use super::{opcode, output, CRC64, RDB_VERSION};

/// Flush the buffer to the sink past this many bytes.
const FLUSH_AT: usize = 64 * 1024;

/// What the file records about a key's accesses, by maxmemory-policy:
/// idle seconds under an LRU policy, the LFU counter under an LFU one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    None,
    Idle(u64),
    Freq(u8),
}

/// An RDB file being written.
pub struct Writer<W: Write> {
    sink: W,
    buf: Vec<u8>,
    digest: Option<super::Crc64Digest>,
    options: EncodeOptions,
}

impl<W: Write> Writer<W> {
    /// Starts a file (magic and version). `checksum` false writes a zero
    /// checksum, as Redis does with `rdbchecksum no`.
    pub fn new(sink: W, options: EncodeOptions, checksum: bool) -> Writer<W> {
        let mut w = Writer { sink, buf: Vec::with_capacity(FLUSH_AT * 2), digest: checksum.then(|| CRC64.digest()), options };
        w.buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w
    }

    /// A writer for a run of entries in the middle of a file (a snapshot's
    /// chunk, written in any order with others): no magic, no checksum
    /// (the file's writer checksums the whole stream, see `Checksum`).
    pub fn chunk(sink: W, options: EncodeOptions) -> Writer<W> {
        Writer { sink, buf: Vec::new(), digest: None, options }
    }

    /// Selects the database of the entries that follow, without a size
    /// hint (a chunk holds one shard's part of it).
    pub fn select_db_only(&mut self, db: usize) -> io::Result<()> {
        self.buf.push(opcode::SELECTDB);
        output::length(&mut self.buf, db as u64);
        self.flush_if_full()
    }

    /// Writes what is buffered and returns the sink, leaving the file
    /// open-ended (a header, a chunk).
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_buf()?;
        Ok(self.sink)
    }

    /// An auxiliary field.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::AUX);
        output::string(&mut self.buf, key, false);
        output::string(&mut self.buf, value, false);
        self.flush_if_full()
    }

    /// The auxiliary fields Redis 7.0 starts a file with (`aof_base`:
    /// the file is the base of an append-only file).
    pub fn standard_aux(&mut self, redis_version: &str, ctime_secs: i64, used_memory: u64, aof_base: bool) -> io::Result<()> {
        self.standard_aux_with(redis_version, ctime_secs, used_memory, None, aof_base)
    }

    /// The standard fields with the replication position at the cut
    /// (`repl-stream-db`, `repl-id`, `repl-offset`), which a replica
    /// loading the file continues from, and a restarted master too.
    pub fn standard_aux_with(
        &mut self,
        redis_version: &str,
        ctime_secs: i64,
        used_memory: u64,
        replication: Option<ReplicationAux<'_>>,
        aof_base: bool,
    ) -> io::Result<()> {
        self.aux(b"redis-ver", redis_version.as_bytes())?;
        self.aux(b"redis-bits", b"64")?;
        self.aux(b"ctime", ctime_secs.to_string().as_bytes())?;
        self.aux(b"used-mem", used_memory.to_string().as_bytes())?;
        if let Some(r) = replication {
            self.aux(b"repl-stream-db", r.stream_db.to_string().as_bytes())?;
            self.aux(b"repl-id", r.id.as_bytes())?;
            self.aux(b"repl-offset", r.offset.to_string().as_bytes())?;
        }
        self.aux(b"aof-base", if aof_base { b"1" } else { b"0" })
    }

    /// Starts a database section (SELECTDB, then the RESIZEDB hint).
    pub fn select_db(&mut self, db: usize, keys: usize, volatile: usize) -> io::Result<()> {
        self.buf.push(opcode::SELECTDB);
        output::length(&mut self.buf, db as u64);
        self.buf.push(opcode::RESIZEDB);
        output::length(&mut self.buf, keys as u64);
        output::length(&mut self.buf, volatile as u64);
        self.flush_if_full()
    }

    /// One key: its expiry (absolute ms, if any), access data, then the
    /// type byte, the key and the value.
    pub fn entry(&mut self, key: &[u8], value: &Value, expire_ms: Option<i64>, access: Access) -> io::Result<()> {
        if let Some(at) = expire_ms {
            self.buf.push(opcode::EXPIRETIME_MS);
            output::ms_time(&mut self.buf, at);
        }
        match access {
            Access::None => {}
            Access::Idle(secs) => {
                self.buf.push(opcode::IDLE);
                output::length(&mut self.buf, secs);
            }
            Access::Freq(counter) => self.buf.extend_from_slice(&[opcode::FREQ, counter]),
        }
        let type_at = self.buf.len();
        self.buf.push(0);
        output::string(&mut self.buf, key, self.options.compress);
        let kind = encode_value(value, &mut self.buf, self.options);
        self.buf[type_at] = kind;
        self.flush_if_full()
    }

    /// A function library (FUNCTION2: its code as one string).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::FUNCTION2);
        output::string(&mut self.buf, code, self.options.compress);
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if let Some(d) = self.digest.as_mut() {
            d.update(&self.buf);
        }
        self.sink.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Ends the file (EOF and the checksum) and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(opcode::EOF);
        self.flush_buf()?;
        let crc = self.digest.take().map_or(0, |d| d.finalize());
        self.sink.write_all(&crc.to_le_bytes())?;
        self.sink.flush()?;
        Ok(self.sink)
    }
}

/// The replication position an RDB file records (its AUX fields).
#[derive(Clone, Copy, Debug)]
pub struct ReplicationAux<'a> {
    pub stream_db: usize,
    pub id: &'a str,
    pub offset: u64,
}
