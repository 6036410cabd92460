//! An RDB file on disk, written in shard chunks: the header, chunks in any
//! order, the trailer; then fsync and an atomic rename over the target.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use shoal_engine::keyspace::Shard;
use shoal_engine::snapshot::{ChunkSink, ShardSerializer};
use shoal_engine::{ShardIndex, NO_EXPIRE};
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
pub fn temp_path(dir: &Path, background: bool) -> PathBuf {
    let pid = std::process::id();
    dir.join(if background { format!("temp-bgsave-{pid}.rdb") } else { format!("temp-{pid}.rdb") })
}

/// An RDB file being written.
pub struct RdbFile {
    out: BufWriter<File>,
    checksum: rdb::Checksum,
    temp: PathBuf,
    target: PathBuf,
    checksums: bool,
}

impl RdbFile {
    /// Creates the temporary file and writes the header.
    pub fn create(server: &Server, target: PathBuf, background: bool, aof_base: bool) -> io::Result<RdbFile> {
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let temp = temp_path(&dir, background);
        let file = File::create(&temp)?;
        let mut header = rdb::Writer::new(Vec::new(), server.rdb_encode_options(), false);
        header.standard_aux(REDIS_VERSION, shoal_engine::now_ms() / 1000, crate::alloc::allocated_bytes() as u64, aof_base)?;
        let header = header.into_inner()?;
        let mut rdb = RdbFile {
            out: BufWriter::with_capacity(1 << 16, file),
            checksum: rdb::Checksum::default(),
            temp,
            target,
            checksums: server.config.get_bool("rdbchecksum"),
        };
        rdb.write_chunk(&header)?;
        Ok(rdb)
    }

    /// Writes the trailer, syncs, and renames the file over the target.
    fn commit(mut self) -> io::Result<()> {
        let trailer = std::mem::take(&mut self.checksum).trailer(self.checksums);
        self.out.write_all(&trailer)?;
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
        self.checksum.update(chunk);
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
