//! A snapshot file on disk, written in shard chunks: the header, chunks in
//! any order, the trailer; then fsync and an atomic rename over the
//! target. An RDB file (dump.rdb, or an AOF base with the RDB preamble), or
//! an AOF base made of commands (`aof-use-rdb-preamble no`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use shoal_engine::keyspace::Shard;
use shoal_engine::snapshot::{ChunkSink, ShardSerializer};
use shoal_engine::{ShardIndex, NO_EXPIRE};
use shoal_persist::aof::rewrite;
use shoal_persist::rdb;

use crate::server::{Server, REDIS_VERSION};

/// Serializes a shard as RDB: a database selector before each database's
/// run of keys, with expiry and access data as Redis writes them.
pub struct RdbShards {
    pub dbs: usize,
    pub options: rdb::EncodeOptions,
    /// Access data is computed against the time of the cut.
    pub server: std::sync::Weak<Server>,
    pub now_ms: i64,
}

impl RdbShards {
    pub fn new(server: &Server) -> RdbShards {
        RdbShards {
            dbs: server.engine.db_count(),
            options: server.rdb_encode_options(),
            server: std::sync::Arc::downgrade(&server.arc()),
            now_ms: shoal_engine::now_ms(),
        }
    }
}

/// Serializes a shard as AOF commands: a SELECT before each database's
/// run of keys, then the commands that rebuild each key
/// (`shoal_persist::aof::rewrite`).
pub struct AofShards {
    pub dbs: usize,
}

impl ShardSerializer for AofShards {
    fn serialize(&self, _index: ShardIndex, shard: &Shard, out: &mut Vec<u8>) -> u64 {
        let mut keys = 0;
        for db in 0..self.dbs.min(shard.dbs.len()) {
            let table = &shard.dbs[db];
            if table.is_empty() {
                continue;
            }
            rewrite::select(out, db);
            for entry in table.iter() {
                let expire = (entry.expire_at() != NO_EXPIRE).then(|| entry.expire_at());
                rewrite::key(out, entry.key(), entry.value(), expire);
                keys += 1;
            }
        }
        keys
    }
}

/// What a snapshot file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// dump.rdb.
    Rdb,
    /// An AOF base in RDB format (its `aof-base` field set).
    RdbAofBase,
    /// An AOF base made of commands.
    AofCommands,
}

impl Format {
    /// The serializer for this format's chunks.
    pub fn serializer(self, server: &Server) -> Box<dyn ShardSerializer> {
        match self {
            Format::AofCommands => Box::new(AofShards { dbs: server.engine.db_count() }),
            Format::Rdb | Format::RdbAofBase => Box::new(RdbShards::new(server)),
        }
    }
}

impl ShardSerializer for RdbShards {
    fn serialize(&self, _index: ShardIndex, shard: &Shard, out: &mut Vec<u8>) -> u64 {
        let Some(server) = self.server.upgrade() else { return 0 };
        let mut writer = rdb::Writer::chunk(std::mem::take(out), self.options);
        let mut keys = 0;
        for db in 0..self.dbs.min(shard.dbs.len()) {
            let table = &shard.dbs[db];
            if table.is_empty() {
                continue;
            }
            // Writing to a Vec cannot fail.
            let _ = writer.select_db_only(db);
            for entry in table.iter() {
                let expire = (entry.expire_at() != NO_EXPIRE).then(|| entry.expire_at());
                let access = server.rdb_access(entry.access(), self.now_ms);
                let _ = writer.entry(entry.key(), entry.value(), expire, access);
                keys += 1;
            }
        }
        *out = writer.into_inner().unwrap_or_default();
        keys
    }
}

/// The temporary file a save writes before renaming it over the target
/// (a background save's has its own name, so that the save of a shutdown
/// can run while a cancelled one is being removed).
pub fn temp_path(dir: &Path, background: bool, format: Format) -> PathBuf {
    let pid = std::process::id();
    dir.join(match (format, background) {
        (Format::AofCommands, _) => format!("temp-rewriteaof-bg-{pid}.aof"),
        (_, true) => format!("temp-bgsave-{pid}.rdb"),
        (_, false) => format!("temp-{pid}.rdb"),
    })
}

/// An RDB file's header: the signature and the AUX fields, with the
/// replication position at this instant when there is a replication
/// history to continue (a backlog), as Redis records it. Written at a
/// snapshot's cut (every shard held), so the position is the cut's.
pub fn rdb_header(server: &Server, aof_base: bool) -> io::Result<Vec<u8>> {
    rdb_header_with(server, aof_base, true)
}

/// `rdb_header`, with the function libraries only when `functions` (a
/// filtered snapshot for REPLCONF rdb-filter-only).
pub fn rdb_header_with(server: &Server, aof_base: bool, functions: bool) -> io::Result<Vec<u8>> {
    let mut header = rdb::Writer::new(Vec::new(), server.rdb_encode_options(), false);
    let now_secs = shoal_engine::now_ms() / 1000;
    let used = crate::alloc::allocated_bytes() as u64;
    let propagation = &server.engine.propagation;
    let with_history = propagation.backlog_info().active && !aof_base;
    let replica_db = server.master.is_replica().then(|| server.master.stream_db.load(std::sync::atomic::Ordering::Relaxed));
    propagation.at_cut(|offset, ids, stream_db| {
        let stream_db = replica_db.unwrap_or(stream_db);
        let replication = with_history.then_some(rdb::ReplicationAux { stream_db, id: &ids.id, offset });
        header.standard_aux_with(REDIS_VERSION, now_secs, used, replication, aof_base)
    })?;
    if functions {
        for code in server.scripts.library_codes.lock().iter() {
            header.function(code)?;
        }
    }
    header.into_inner()
}

/// A snapshot file being written.
pub struct RdbFile {
    out: BufWriter<File>,
    /// The RDB checksum (None: commands, which have no trailer).
    checksum: Option<rdb::Checksum>,
    temp: PathBuf,
    target: PathBuf,
    checksums: bool,
}

impl RdbFile {
    /// Creates the temporary file and writes the header (an RDB header,
    /// or for commands a `#TS:` annotation when `aof-timestamp-enabled`).
    pub fn create(server: &Server, target: PathBuf, background: bool, format: Format) -> io::Result<RdbFile> {
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let temp = temp_path(&dir, background, format);
        let file = File::create(&temp)?;
        let now_secs = shoal_engine::now_ms() / 1000;
        let header = if format == Format::AofCommands {
            let mut header = Vec::new();
            if server.config.get_bool("aof-timestamp-enabled") {
                shoal_persist::aof::AofEncoder::new(true).timestamp(&mut header, now_secs);
            }
            // The libraries first, as FUNCTION LOAD commands.
            for code in server.scripts.library_codes.lock().iter() {
                let load: [&[u8]; 3] = [b"FUNCTION", b"LOAD", code];
                shoal_engine::propagate::encode(&mut header, &load);
            }
            header
        } else {
            rdb_header(server, format == Format::RdbAofBase)?
        };
        let mut rdb = RdbFile {
            out: BufWriter::with_capacity(1 << 16, file),
            checksum: (format != Format::AofCommands).then(rdb::Checksum::default),
            temp,
            target,
            checksums: server.config.get_bool("rdbchecksum"),
        };
        rdb.write_chunk(&header)?;
        Ok(rdb)
    }

    /// Writes the trailer, syncs, and renames the file over the target.
    fn commit(mut self) -> io::Result<()> {
        if let Some(checksum) = self.checksum.take() {
            let trailer = checksum.trailer(self.checksums);
            self.out.write_all(&trailer)?;
        }
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)?;
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Removes the temporary file of a save that failed.
    fn discard(self) {
        let temp = self.temp.clone();
        drop(self);
        let _ = std::fs::remove_file(temp);
    }
}

impl ChunkSink for RdbFile {
    fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Some(checksum) = self.checksum.as_mut() {
            checksum.update(chunk);
        }
        self.out.write_all(chunk)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let temp = self.temp.clone();
        let done = self.commit();
        if done.is_err() {
            let _ = std::fs::remove_file(temp);
        }
        done
    }

    fn abandon(self: Box<Self>) {
        self.discard();
    }
}
