//! Loading the dataset at start-up (and DEBUG RELOAD / LOADAOF): from the
//! append-only file when `appendonly` is on, otherwise from the RDB file.
//!
//! While loading, the keyspace is in exclusive `Loading` mode: clients are
//! served, and get `-LOADING` except for the commands flagged `loading`
//! (INFO shows the progress). An RDB file is read on one thread, which
//! only cuts it into entries; decoding the values and filling the shards
//! is spread over several loader threads, each owning a share of the
//! shards so they never contend. An append-only file is replayed command
//! by command through the execution path, as the `Loading` caller.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};

use shoal_engine::{locate, Entry, ExclusiveKind, ShardIndex, SHARD_COUNT};
use shoal_resp::reply::{Protocol, ReplyBuf};
use shoal_persist::aof::{AofReader, Entry as AofEntry, Manifest, ReadError};
use shoal_persist::rdb::{self, EntryBatch, Item, Reader, Step};

use crate::server::Server;

/// Entries handed to a loader thread at once, unless their bytes reach
/// `BATCH_BYTES` first.
const BATCH: usize = 4096;
const BATCH_BYTES: usize = 1 << 20;
/// Batches a loader thread may have waiting.
const QUEUED: usize = 4;
/// The fewest bytes an entry takes in a file (type, key length, key,
/// value): RESIZEDB's claim is believed up to the file's size over this.
const MIN_ENTRY_BYTES: u64 = 4;

/// What a load found.
#[derive(Default, Debug)]
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
    /// Empty collections, which are skipped as Redis does.
    pub empty_skipped: u64,
    /// Bytes of the RDB stream read (an old AOF's commands follow them).
    pub rdb_bytes: u64,
    /// The keys a master dropped as expired (database, key): their DELs
    /// go to its replication history once it is restored.
    pub expired_keys: Vec<(usize, Vec<u8>)>,
}

/// Empty keys skipped are logged one by one up to this many.
const EMPTY_KEYS_LOGGED: u64 = 10;

/// Why loading RDB data failed. `corrupt`: the data itself is bad (not
/// the file's opening, a duplicate key or the database count), and at
/// start-up the server then logs the file's check and terminates.
#[derive(Debug)]
pub struct LoadError {
    pub message: String,
    pub corrupt: bool,
}

impl LoadError {
    fn corrupt(message: String) -> LoadError {
        LoadError { message, corrupt: true }
    }
}

impl From<String> for LoadError {
    fn from(message: String) -> LoadError {
        LoadError { message, corrupt: false }
    }
}

impl From<LoadError> for String {
    fn from(e: LoadError) -> String {
        e.message
    }
}

/// Marks the server as loading `total_bytes` (INFO loading_*) and holds
/// the keyspace exclusively until dropped. Guards nest: an inner one
/// (a load inside start-up's) restarts the progress figures, and the
/// outermost one ends the loading state.
pub struct LoadingGuard<'a> {
    server: &'a Server,
}

impl<'a> LoadingGuard<'a> {
    pub fn begin(server: &'a Server, total_bytes: u64) -> LoadingGuard<'a> {
        let loading = &server.persistence.loading;
        let now = shoal_engine::now_ms();
        loading.started_ms.store(now, Ordering::Relaxed);
        loading.total_bytes.store(total_bytes, Ordering::Relaxed);
        loading.loaded_bytes.store(0, Ordering::Relaxed);
        loading.loaded_keys.store(0, Ordering::Relaxed);
        loading.active.store(true, Ordering::Relaxed);
        if loading.depth.fetch_add(1, Ordering::AcqRel) == 0 {
            server.engine.keyspace.set_exclusive(ExclusiveKind::Loading, now);
        }
        LoadingGuard { server }
    }
}

impl Drop for LoadingGuard<'_> {
    fn drop(&mut self) {
        let loading = &self.server.persistence.loading;
        if loading.depth.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.server.engine.keyspace.clear_exclusive();
            loading.active.store(false, Ordering::Relaxed);
        }
    }
}

/// Sleeps as `key-load-delay` asks for `keys` keys (microseconds per key;
/// a negative value is nanoseconds). The RDB's reader sleeps, not its
/// parallel loaders, so that a load takes at least the delay times the
/// keys as in Redis (the sentinel suite's master-reboot test counts on it).
/// Microseconds are slept one key at a time, as Redis sleeps (each sleep
/// costing a little more than asked, which the suite's timings include),
/// and the setting is read again for every key: lowered to 0, the load
/// goes on at once.
fn key_load_delay(server: &Server, keys: usize) {
    for done in 0..keys {
        let delay = server.config.get_int("key-load-delay");
        if delay == 0 {
            return;
        }
        if delay < 0 {
            // Nanoseconds: too short to sleep one at a time.
            std::thread::sleep(super::delay_per_key(delay) * (keys - done) as u32);
            return;
        }
        std::thread::sleep(super::delay_per_key(delay));
    }
}

/// Loads the RDB file at `path` into the (empty) keyspace.
pub fn load_rdb_file(server: &Server, path: &Path) -> Result<Loaded, LoadError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let _guard = LoadingGuard::begin(server, size);
    load_rdb_path(server, path, false)
}

/// Loads the RDB file at `path`, the caller having begun the loading
/// state; with `merge`, a key already present is replaced (DEBUG RELOAD
/// MERGE) instead of failing the load.
pub fn load_rdb_path(server: &Server, path: &Path, merge: bool) -> Result<Loaded, LoadError> {
    let file = File::open(path).map_err(|e| format!("Can't open {}: {e}", path.display()))?;
    load_rdb(server, BufReader::with_capacity(1 << 16, file), merge)
}

/// Reads an RDB stream and fills the keyspace from it.
pub fn load_rdb<R: Read>(server: &Server, source: R, merge: bool) -> Result<Loaded, LoadError> {
    load_rdb_into(server, source, merge, None)
}

/// Where an async load (`repl-diskless-load swapdb` within the same
/// replication history) puts the new dataset while the old one is served:
/// a keyspace of its own, and the function libraries' code, both swapped
/// in once the whole payload loaded.
pub struct Staged {
    pub keyspace: shoal_engine::Keyspace,
    pub functions: Vec<Vec<u8>>,
}

impl Staged {
    pub fn new(server: &Server) -> Staged {
        Staged { keyspace: shoal_engine::Keyspace::new(server.engine.db_count()), functions: Vec::new() }
    }
}

/// `load_rdb`, into `staged` when given (else the server's keyspace and
/// function libraries).
pub fn load_rdb_into<R: Read>(
    server: &Server,
    source: R,
    merge: bool,
    mut staged: Option<&mut Staged>,
) -> Result<Loaded, LoadError> {
    let mut reader = Reader::new(source).map_err(|e| format!("Short read or wrong signature loading the RDB: {e}"))?;
    reader.set_verify_checksum(server.config.get_bool("rdbchecksum"));
    let loaders = server.threads.clamp(1, 8);
    let dbs = server.engine.db_count() as u64;
    let now_ms = shoal_engine::now_ms();
    let limits = server.tunables.encodings.rdb_decode_limits();
    let mut functions = staged.as_mut().map(|s| std::mem::take(&mut s.functions));
    let target = staged.as_ref().map_or(&server.engine.keyspace, |s| &s.keyspace);
    let result = std::thread::scope(|scope| {
        // Batches go to the loaders in turn and come back empty to be
        // filled again; each loader sorts its batch by shard.
        let (spent_tx, spent) = channel::<EntryBatch>();
        let mut senders: Vec<SyncSender<EntryBatch>> = Vec::new();
        let mut handles = Vec::new();
        for i in 0..loaders {
            let (tx, rx) = sync_channel::<EntryBatch>(QUEUED);
            senders.push(tx);
            let limits = &limits;
            let spent_tx = spent_tx.clone();
            handles.push(std::thread::Builder::new().name(format!("shoal-load-{i}")).spawn_scoped(scope, move || {
                let mut loaded = Loaded::default();
                for batch in rx {
                    fill(server, target, batch, &spent_tx, limits, now_ms, merge, &mut loaded)?;
                }
                Ok::<Loaded, LoadError>(loaded)
            }));
        }
        drop(spent_tx);
        let mut batch = EntryBatch::default();
        let mut turn = 0;
        let mut db = 0;
        let mut read_error = None;
        loop {
            match reader.next_into(&mut batch) {
                Ok(Some(Step::Batched)) => {
                    if batch.len() >= BATCH || batch.byte_len() >= BATCH_BYTES {
                        key_load_delay(server, batch.len());
                        let next = spent.try_recv().unwrap_or_default();
                        if senders[turn].send(std::mem::replace(&mut batch, next)).is_err() {
                            break;
                        }
                        turn = (turn + 1) % loaders;
                        server.persistence.loading.loaded_bytes.store(reader.consumed() as u64, Ordering::Relaxed);
                    }
                }
                Ok(Some(Step::Item(Item::SelectDb(selected)))) => {
                    if selected >= dbs {
                        read_error = Some(LoadError::from(format!(
                            "FATAL: Data file was created with a Redis server configured to handle more than {dbs} databases. Exiting"
                        )));
                        break;
                    }
                    db = selected as usize;
                }
                Ok(Some(Step::Item(Item::ResizeDb { keys, .. }))) => reserve(server, target, db, keys),
                Ok(Some(Step::Item(Item::Aux { key, value }))) => aux_field(server, &key, &value),
                Ok(Some(Step::Item(Item::Function(code)))) if functions.is_some() => {
                    functions.as_mut().expect("staged").push(code);
                }
                Ok(Some(Step::Item(Item::Function(code)))) => {
                    if let Err(why) = crate::families::scripting::load_library(server, code, merge) {
                        read_error = Some(LoadError::from(format!("Failed loading library: {why}")));
                        break;
                    }
                }
                Ok(Some(Step::Item(Item::Entry(_)))) => unreachable!("next_into batches entries"),
                Ok(None) => break,
                Err(e) => {
                    let message = format!("Internal error in RDB reading offset {}: {e}", reader.consumed());
                    read_error = Some(match e {
                        rdb::Error::Io(_) => LoadError::from(message),
                        _ => LoadError::corrupt(message),
                    });
                    break;
                }
            }
        }
        if !batch.is_empty() {
            key_load_delay(server, batch.len());
            let _ = senders[turn].send(batch);
        }
        drop(senders);
        let mut total = Loaded::default();
        let mut fill_error = None;
        for handle in handles {
            let joined = handle
                .map_err(|e| LoadError::from(e.to_string()))
                .and_then(|h| h.join().map_err(|_| LoadError::from("a loader thread panicked".to_string())));
            match joined {
                Ok(Ok(loaded)) => {
                    total.keys += loaded.keys;
                    total.expired += loaded.expired;
                    total.empty_skipped += loaded.empty_skipped;
                    total.expired_keys.extend(loaded.expired_keys);
                }
                Ok(Err(e)) | Err(e) => fill_error = fill_error.or(Some(e)),
            }
        }
        server.persistence.loading.loaded_bytes.store(reader.consumed() as u64, Ordering::Relaxed);
        total.rdb_bytes = reader.consumed() as u64;
        match read_error.or(fill_error) {
            Some(e) => Err(e),
            None => Ok(total),
        }
    });
    if let (Some(staged), Some(functions)) = (staged, functions) {
        staged.functions = functions;
    }
    result
}

/// Grows database `db`'s tables ahead of the `keys` keys RESIZEDB
/// announces, as far as the file's size makes the claim believable.
fn reserve(server: &Server, target: &shoal_engine::Keyspace, db: usize, keys: u64) {
    let believable = server.persistence.loading.total_bytes.load(Ordering::Relaxed) / MIN_ENTRY_BYTES;
    let per_shard = keys.min(believable) as usize / SHARD_COUNT;
    if per_shard == 0 {
        return;
    }
    // Keys spread evenly over the shards; an eighth more for the spread.
    let per_shard = per_shard + per_shard / 8;
    for shard in 0..SHARD_COUNT as ShardIndex {
        let mut locks = target.lock_one(shard);
        locks.shard(shard).dbs[db].reserve(per_shard);
    }
}

/// A replica, or a server about to become one (the `replicaof`
/// directive at start-up), keeps expired keys it loads.
fn is_replica_on_load(server: &Server) -> bool {
    server.master.is_replica() || matches!(server.config.get("replicaof"), crate::config::Value::Words(w) if !w.is_empty())
}

/// Decodes a batch of entries, outside any lock, and puts them in their
/// shards, taking each shard's lock once for all of the batch's entries
/// in it. The emptied batch goes back to the reader.
#[allow(clippy::too_many_arguments)]
fn fill(
    server: &Server,
    target: &shoal_engine::Keyspace,
    mut batch: EntryBatch,
    spent: &Sender<EntryBatch>,
    limits: &rdb::DecodeLimits,
    now_ms: i64,
    merge: bool,
    loaded: &mut Loaded,
) -> Result<(), LoadError> {
    let keeps_expired = is_replica_on_load(server);
    let mut ready = Vec::with_capacity(batch.len());
    for entry in batch.iter() {
        let value = match entry.decode(limits) {
            Ok(value) => value,
            Err(rdb::Error::EmptyKey) => {
                // Older servers could write empty collections: skipped.
                loaded.empty_skipped += 1;
                if loaded.empty_skipped <= EMPTY_KEYS_LOGGED {
                    server
                        .log
                        .warning(&format!("RDB loading skipping empty key: {}", String::from_utf8_lossy(entry.key)));
                }
                continue;
            }
            Err(e) => {
                let key = String::from_utf8_lossy(entry.key);
                return Err(LoadError::corrupt(format!("Internal error in RDB reading key '{key}': {e}")));
            }
        };
        if entry.expire_ms.is_some_and(|at| at < now_ms) && !keeps_expired {
            // A master drops what expired while the file rested (a replica
            // keeps it until its master's DEL, as Redis does).
            loaded.expired += 1;
            loaded.expired_keys.push((entry.db as usize, entry.key.to_vec()));
            continue;
        }
        let access = server.access_on_load(entry.access, now_ms);
        let expire = entry.expire_ms.unwrap_or(shoal_engine::NO_EXPIRE);
        ready.push((locate(entry.key), entry.db as usize, Entry::new(entry.key, value, expire, access)));
    }
    batch.clear();
    let _ = spent.send(batch);
    ready.sort_unstable_by_key(|(at, _, _)| at.shard);
    let count = ready.len();
    let mut ready = ready.into_iter().peekable();
    while let Some(&(first, _, _)) = ready.peek() {
        let mut locks = target.lock_one(first.shard);
        let shard = locks.shard(first.shard);
        while let Some((at, db, entry)) = ready.next_if(|(at, _, _)| at.shard == first.shard) {
            let table = &mut shard.dbs[db];
            if let Some(slot) = table.find(at.hash, entry.key()) {
                if !merge {
                    let key = String::from_utf8_lossy(entry.key());
                    return Err(LoadError::from(format!("RDB has duplicated key '{key}' in DB {db}")));
                }
                drop(table.remove(slot, at.hash));
            }
            table.insert(at.hash, entry);
        }
    }
    loaded.keys += count as u64;
    server.persistence.loading.loaded_keys.fetch_add(count as u64, Ordering::Relaxed);
    Ok(())
}

/// Logs what Redis logs about a file's origin.
fn aux_field(server: &Server, key: &[u8], value: &[u8]) {
    let value = String::from_utf8_lossy(value);
    match key {
        b"redis-ver" => server.log.notice(&format!("Loading RDB produced by version {value}")),
        b"ctime" => {
            if let Ok(ctime) = value.parse::<i64>() {
                let age = (shoal_engine::now_ms() / 1000 - ctime).max(0);
                server.log.notice(&format!("RDB age {age} seconds"));
            }
        }
        b"used-mem" => {
            if let Ok(bytes) = value.parse::<u64>() {
                server.log.notice(&format!("RDB memory usage when created {:.2} Mb", bytes as f64 / (1024.0 * 1024.0)));
            }
        }
        b"repl-id" if value.len() == 40 => server.persistence.loaded_replication.lock().id = Some(value.into_owned()),
        b"repl-offset" => server.persistence.loaded_replication.lock().offset = value.parse().ok(),
        b"repl-stream-db" => server.persistence.loaded_replication.lock().stream_db = value.parse().ok(),
        _ => {}
    }
}

/// An append-only file could not be loaded (the reason is logged).
#[derive(Debug)]
pub struct AofLoadFailed;

/// The size of the files `manifest` loads.
pub fn aof_bytes(server: &Server, manifest: &Manifest) -> u64 {
    let dir = super::aof::dir(server);
    manifest.load_order().map(|f| std::fs::metadata(dir.join(&f.name)).map(|m| m.len()).unwrap_or(0)).sum()
}

/// Replays the append-only file of `manifest`: its base (RDB or
/// commands), then its incr files, the loading state begun by the caller.
/// A truncated last file is cut back to its last complete command when
/// `aof-load-truncated` allows. Failures are logged here, as Redis logs
/// them (their last line is the reason).
pub fn replay_aof(server: &Server, manifest: &Manifest) -> Result<Loaded, AofLoadFailed> {
    let dir = super::aof::dir(server);
    let log = &server.log;
    let files: Vec<_> = manifest.load_order().cloned().collect();
    // Every file the manifest names must be there before any is loaded.
    for file in &files {
        if let Err(e) = std::fs::metadata(dir.join(&file.name)) {
            log.warning(&format!("Unable to obtain the AOF file {} length. stat: {}", file.name, super::strerror(&e)));
            return Err(AofLoadFailed);
        }
    }
    // The name of a single-file AOF from before Redis 7.0 (its RDB part
    // is a preamble followed by commands, not a base).
    let old_style_name = super::aof::prefix(server);
    let mut loaded = Loaded::default();
    let mut replay = Replay::new(server);
    for (index, file) in files.iter().enumerate() {
        let started = std::time::Instant::now();
        let path = dir.join(&file.name);
        let last = index + 1 == files.len();
        let mut bytes = Vec::new();
        if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
            log.warning(&format!(
                "Fatal error: can't open the append log file {} for reading: {}",
                file.name,
                super::strerror(&e)
            ));
            return Err(AofLoadFailed);
        }
        if bytes.is_empty() {
            continue;
        }
        let mut start = 0;
        if bytes.starts_with(b"REDIS") {
            let old_style = file.name == old_style_name;
            log.notice(if old_style {
                "Reading RDB preamble from AOF file..."
            } else {
                "Reading RDB base file on AOF loading..."
            });
            match load_rdb(server, &bytes[..], false) {
                Ok(rdb) => {
                    loaded.keys += rdb.keys;
                    loaded.expired += rdb.expired;
                    loaded.empty_skipped += rdb.empty_skipped;
                    start = rdb.rdb_bytes as usize;
                }
                Err(e) => {
                    log.warning(&e.message);
                    log.warning(&if old_style {
                        format!("Error reading the RDB preamble of the AOF file {}, AOF loading aborted", file.name)
                    } else {
                        format!("Error reading the RDB base file {}, AOF loading aborted", file.name)
                    });
                    return Err(AofLoadFailed);
                }
            }
            if old_style {
                log.notice("Reading the remaining AOF tail...");
            }
        }
        let complete = replay.file(&bytes[start..], start as u64, &path, &file.name)?;
        if !complete && !last {
            log.warning("Fatal error: the truncated file is not the last file");
            return Err(AofLoadFailed);
        }
        server.persistence.loading.loaded_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let what = if manifest.base.as_ref() == Some(file) { "base" } else { "incr" };
        log.notice(&format!(
            "DB loaded from {what} file {}: {:.3} seconds",
            file.name,
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(loaded)
}

/// Runs an AOF's commands through the execution path.
struct Replay<'a> {
    server: &'a Server,
    client: crate::client::Client,
    out: shoal_resp::reply::ReplyBuf,
}

impl<'a> Replay<'a> {
    fn new(server: &'a Server) -> Replay<'a> {
        let client = crate::client::Client::loader(server.next_client_id());
        Replay { server, client, out: ReplyBuf::new(Protocol::Resp2) }
    }

    /// Replays one file; Ok(false) when it was truncated (and cut back,
    /// as `aof-load-truncated` allows).
    fn file(&mut self, bytes: &[u8], offset: u64, path: &Path, name: &str) -> Result<bool, AofLoadFailed> {
        let log = &self.server.log;
        let mut reader = AofReader::new(bytes, offset);
        let mut queued: Option<Vec<Vec<Vec<u8>>>> = None;
        loop {
            match reader.next_entry() {
                Ok(None) => return Ok(true),
                Ok(Some(AofEntry::Annotation(_))) => {}
                Ok(Some(AofEntry::Command(argv))) => {
                    let name_lower = argv.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
                    let run = match (name_lower.as_slice(), queued.as_mut()) {
                        (b"multi", _) => {
                            queued = Some(Vec::new());
                            Ok(())
                        }
                        (b"exec", Some(_)) => {
                            queued.take().unwrap_or_default().iter().try_for_each(|argv| self.run(argv))
                        }
                        (_, Some(queue)) => {
                            queue.push(argv);
                            Ok(())
                        }
                        (_, None) => self.run(&argv),
                    };
                    if let Err(e) = run {
                        log.warning(&format!("{e} {name}"));
                        return Err(AofLoadFailed);
                    }
                }
                Err(ReadError::Truncated { valid_up_to, .. }) => {
                    if reader.in_multi() && reader.offset() == offset + bytes.len() as u64 {
                        log.warning(&format!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"));
                    }
                    if self.server.config.get_bool("aof-load-truncated") {
                        log.warning(&format!("!!! Warning: short read while loading the AOF file {name}!!!"));
                        log.warning(&format!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!"));
                        let truncated = std::fs::OpenOptions::new()
                            .write(true)
                            .open(path)
                            .and_then(|file| file.set_len(valid_up_to).and_then(|()| file.sync_all()));
                        match truncated {
                            Ok(()) => {
                                log.warning(&format!("AOF {name} loaded anyway because aof-load-truncated is enabled"));
                                return Ok(false);
                            }
                            Err(e) => log.warning(&format!("Error truncating the AOF file {name}: {}", super::strerror(&e))),
                        }
                    }
                    log.warning(&format!(
                        "Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
                    ));
                    return Err(AofLoadFailed);
                }
                Err(ReadError::Io(e)) => {
                    log.warning(&format!("Unrecoverable error reading the append only file {name}: {}", super::strerror(&e)));
                    return Err(AofLoadFailed);
                }
                Err(ReadError::Corrupt { .. }) => {
                    log.warning(&format!(
                        "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                    ));
                    return Err(AofLoadFailed);
                }
            }
        }
    }

    fn run(&mut self, argv: &[Vec<u8>]) -> Result<(), String> {
        let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        self.out.buf.clear();
        crate::exec::run_loading(self.server, &mut self.client, &mut self.out, &args)?;
        crate::exec::unread_error(self.server, &self.out.buf, &args, crate::exec::Unread::Aof);
        key_load_delay(self.server, 1);
        Ok(())
    }
}
