//! The append-only file while the server runs: what the propagation point
//! hands it is appended by a writer thread, synced as `appendfsync` says,
//! into the last incr file of Redis 7.0's multi-part layout
//! (`shoal_persist::aof::Manifest`).
//!
//! Group commit: units append to a shared buffer (in the propagation
//! order, under its lock) and go on; the writer thread takes everything
//! buffered, writes it in one call and, under `appendfsync always`, syncs
//! it before publishing the new durable offset. A connection that ran a
//! write waits (asynchronously: its worker keeps serving others) until the
//! durable offset covers what was appended before it sends its replies, so
//! an acknowledged write is on disk, while one sync serves every write that
//! arrived during the previous one. Under `everysec` and `no` replies wait
//! only for the write (as Redis writes the file before it replies: a
//! crash of the process loses nothing acknowledged); the writer syncs once
//! a second (`everysec`) or never (`no`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::Event;
use parking_lot::{Condvar, Mutex};
use shoal_engine::propagate::AofSink;
use shoal_persist::aof::manifest::temp_incr_name;
use shoal_persist::aof::{AppendFile, Disk, Manifest};

/// Where the writer thread reports (the server's log).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// `appendfsync` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fsync {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl Fsync {
    /// An `appendfsync` value.
    pub fn parse(value: &str) -> Fsync {
        match value {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// What units append, waiting for the writer.
struct Pending {
    bytes: Vec<u8>,
    /// Second of the last `#TS:` annotation (aof-timestamp-enabled).
    last_timestamp: i64,
}

/// The writer's side: the manifest and the file appended to.
pub struct Files {
    pub manifest: Manifest,
    file: Box<dyn AppendFile>,
    /// Appends go to `temp-<prefix>.incr`, which the manifest does not
    /// name yet (the file was turned on by CONFIG SET and its first
    /// rewrite has not finished).
    pub temp_incr: bool,
    unsynced: bool,
    last_sync: Instant,
}

pub struct Aof {
    pub disk: Arc<dyn Disk>,
    pub dir: PathBuf,
    pub prefix: String,
    pending: Mutex<Pending>,
    wake: Condvar,
    pub files: Mutex<Files>,
    /// Bytes handed to the file since start-up.
    appended: AtomicU64,
    /// Of those, bytes written (and synced under `always`).
    durable: AtomicU64,
    durable_event: Event,
    fsync: AtomicU8,
    pub timestamps: AtomicBool,
    /// INFO aof_last_write_status (shared with `Persistence`, which
    /// refuses writes while it is false).
    pub last_write_ok: Arc<AtomicBool>,
    /// The last write error, for MISCONF.
    pub last_write_error: Mutex<String>,
    stopping: AtomicBool,
    /// Size of the incr files and of the base (auto-aof-rewrite, INFO).
    pub current_size: AtomicU64,
    pub base_size: AtomicU64,
    /// INFO aof_delayed_fsync and friends.
    pub last_fsync_ms: AtomicI64,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds to wait before each write.
    pub flush_sleep_us: AtomicU64,
    /// A sync failed under `always` on a thread that is not the writer:
    /// the writer ends the process (what was written may never reach the
    /// disk, and a later sync could succeed without it).
    sync_failure: Mutex<Option<String>>,
}

impl Aof {
    /// Opens the last incr file of `manifest` (adding one if it has none)
    /// for appending, and persists the manifest; with `temp_incr`, a new
    /// temporary incr file instead, the manifest left as it is.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: PathBuf,
        prefix: String,
        mut manifest: Manifest,
        base_size: u64,
        fsync: Fsync,
        timestamps: bool,
        last_write_ok: Arc<AtomicBool>,
        temp_incr: bool,
    ) -> std::io::Result<Arc<Aof>> {
        disk.create_dir(&dir)?;
        let (file, incr_sizes) = if temp_incr {
            (disk.create(&dir.join(temp_incr_name(&prefix)))?, 0)
        } else {
            let name = manifest.last_incr(&prefix).to_string();
            let file = disk.open_append(&dir.join(&name))?;
            manifest.persist(&*disk, &dir, &prefix)?;
            (file, incr_bytes(&*disk, &dir, &manifest)?)
        };
        Ok(Arc::new(Aof {
            disk,
            dir,
            prefix,
            pending: Mutex::new(Pending { bytes: Vec::new(), last_timestamp: 0 }),
            wake: Condvar::new(),
            files: Mutex::new(Files { manifest, file, temp_incr, unsynced: false, last_sync: Instant::now() }),
            appended: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            durable_event: Event::new(),
            fsync: AtomicU8::new(fsync as u8),
            timestamps: AtomicBool::new(timestamps),
            last_write_ok,
            last_write_error: Mutex::new(String::new()),
            stopping: AtomicBool::new(false),
            current_size: AtomicU64::new(incr_sizes + base_size),
            base_size: AtomicU64::new(base_size),
            last_fsync_ms: AtomicI64::new(shoal_engine::now_ms()),
            flush_sleep_us: AtomicU64::new(0),
            sync_failure: Mutex::new(None),
        }))
    }

    pub fn fsync_policy(&self) -> Fsync {
        Fsync::from_u8(self.fsync.load(Ordering::Relaxed))
    }

    pub fn set_fsync_policy(&self, policy: Fsync) {
        self.fsync.store(policy as u8, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Waits until everything appended so far is durable (`appendfsync
    /// always`), without blocking the worker thread.
    pub async fn wait_durable(&self) {
        let target = self.appended();
        if self.durable() >= target {
            return;
        }
        // The worker's other connections that are ready append first (the
        // runtime runs them, and looks for input, before a task that
        // yielded): one write and one sync then serve them all, as Redis
        // writes the file once per pass of its event loop.
        tokio::task::yield_now().await;
        if self.durable() < target && !self.write_here() {
            self.wake.notify_one();
        }
        while self.durable() < target {
            let listener = self.durable_event.listen();
            if self.durable() >= target || self.stopping.load(Ordering::Relaxed) || self.gives_up_waiting() {
                return;
            }
            listener.await;
        }
    }

    /// The thread whose reply waits writes what is pending itself when
    /// nobody else is writing (and syncs it under `always`): cheaper than
    /// waking the writer thread and being woken by it, and Redis too
    /// writes (and syncs) the file on its one thread before it replies.
    /// The writer thread syncs once a second under `everysec`, writes what
    /// nobody waits for, and handles errors: a batch that fails here goes
    /// back to it to retry, a failed sync (under `always`) for it to end
    /// the process. True if everything
    /// appended is now written (synced under `always`).
    fn write_here(&self) -> bool {
        if self.flush_sleep_us.load(Ordering::Relaxed) > 0
            || !self.last_write_ok.load(Ordering::Relaxed)
            || self.sync_failure.lock().is_some()
        {
            return false;
        }
        let Some(mut files) = self.files.try_lock() else { return false };
        let (batch, upto) = {
            let mut pending = self.pending.lock();
            (std::mem::take(&mut pending.bytes), self.appended())
        };
        if batch.is_empty() {
            // Taken by the writer, which is about to say so.
            return false;
        }
        if files.file.append(&batch).is_err() {
            let mut pending = self.pending.lock();
            pending.bytes.splice(0..0, batch);
            return false;
        }
        files.unsynced = true;
        self.current_size.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if self.fsync_policy() == Fsync::Always {
            if let Err(e) = files.file.sync() {
                *self.sync_failure.lock() = Some(e.to_string());
                self.wake.notify_one();
                return false;
            }
            self.synced(&mut files);
        }
        drop(files);
        self.durable.fetch_max(upto, Ordering::AcqRel);
        self.durable_event.notify(usize::MAX);
        true
    }

    /// Records a successful sync of the current file.
    fn synced(&self, files: &mut Files) {
        files.unsynced = false;
        files.last_sync = Instant::now();
        self.last_fsync_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    }

    /// While the file refuses writes, replies stop waiting for it except
    /// under `always` (writes are refused meanwhile: MISCONF), as Redis
    /// goes on replying under `everysec` and `no`.
    fn gives_up_waiting(&self) -> bool {
        !self.last_write_ok.load(Ordering::Relaxed) && self.fsync_policy() != Fsync::Always
    }

    /// `wait_durable` for a thread that may block (DEBUG LOADAOF), and
    /// with every byte written whatever `appendfsync` says.
    pub fn wait_durable_blocking(&self) {
        let target = self.appended();
        self.wake.notify_one();
        while self.durable() < target && !self.stopping.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Runs the writer until `stop`.
    pub fn spawn_writer(self: &Arc<Self>, log: Log) -> std::io::Result<std::thread::JoinHandle<()>> {
        let aof = self.clone();
        std::thread::Builder::new().name("shoal-aof".into()).spawn(move || aof.writer(&*log))
    }

    fn writer(&self, log: &(dyn Fn(&str) + Send + Sync)) {
        loop {
            {
                let mut pending = self.pending.lock();
                while pending.bytes.is_empty()
                    && !self.stopping.load(Ordering::Relaxed)
                    && self.sync_failure.lock().is_none()
                {
                    let timed_out = self.wake.wait_for(&mut pending, Duration::from_millis(100)).timed_out();
                    if timed_out {
                        break;
                    }
                }
            }
            if let Some(e) = self.sync_failure.lock().take() {
                fsync_failed_under_always(log, &e);
            }
            let stopping = self.stopping.load(Ordering::Relaxed);
            // The batch is taken with the file held (files before pending,
            // as in `switch_incr`), so a batch appended before a rewrite's
            // cut is written to the incr file of before the cut.
            let mut files = self.files.lock();
            let (batch, upto) = {
                let mut pending = self.pending.lock();
                (std::mem::take(&mut pending.bytes), self.appended())
            };
            self.write_out(log, &mut files, &batch);
            let policy = self.fsync_policy();
            let due = match policy {
                Fsync::Always => files.unsynced,
                Fsync::EverySec => files.unsynced && (files.last_sync.elapsed() >= Duration::from_secs(1) || stopping),
                Fsync::No => stopping && files.unsynced,
            };
            if due {
                match files.file.sync() {
                    Ok(()) => self.synced(&mut files),
                    Err(e) if policy == Fsync::Always => fsync_failed_under_always(log, &e.to_string()),
                    Err(e) => log(&format!("Can't fsync the append only file: {e}")),
                }
            }
            drop(files);
            // `write_here` may have written a later batch meanwhile.
            self.durable.fetch_max(upto, Ordering::AcqRel);
            self.durable_event.notify(usize::MAX);
            if stopping && self.pending.lock().bytes.is_empty() {
                return;
            }
        }
    }

    /// Writes `batch` to the current incr file, retrying while the disk
    /// refuses (writes are refused meanwhile, see `writes_refused`).
    fn write_out(&self, log: &(dyn Fn(&str) + Send + Sync), files: &mut Files, batch: &[u8]) {
        if batch.is_empty() {
            return;
        }
        let sleep = self.flush_sleep_us.load(Ordering::Relaxed);
        if sleep > 0 {
            std::thread::sleep(Duration::from_micros(sleep));
        }
        loop {
            match files.file.append(batch) {
                Ok(()) => {
                    files.unsynced = true;
                    self.current_size.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    if !self.last_write_ok.swap(true, Ordering::Relaxed) {
                        log("AOF write error looks solved, Redis can write again.");
                    }
                    return;
                }
                Err(e) => {
                    *self.last_write_error.lock() = e.to_string();
                    if self.last_write_ok.swap(false, Ordering::Relaxed) {
                        log(&format!("Error writing to the AOF file: {e}"));
                        // Waiting replies look again (`gives_up_waiting`).
                        self.durable_event.notify(usize::MAX);
                    }
                }
            }
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Flushes what is buffered, syncs, and stops the writer (shutdown,
    /// appendonly no).
    pub fn stop(&self, writer: Option<std::thread::JoinHandle<()>>) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
        if let Some(handle) = writer {
            let _ = handle.join();
        }
        self.durable_event.notify(usize::MAX);
    }

    /// Starts a new incr file, with everything appended so far written to
    /// the old one and synced (an AOF rewrite's cut: the caller holds every
    /// shard, so no unit appends meanwhile). Returns the new file's name.
    pub fn switch_incr(&self) -> std::io::Result<String> {
        let mut files = self.files.lock();
        let batch = std::mem::take(&mut self.pending.lock().bytes);
        files.file.append(&batch)?;
        self.current_size.fetch_add(batch.len() as u64, Ordering::Relaxed);
        files.file.sync()?;
        files.unsynced = false;
        let name = files.manifest.add_incr(&self.prefix).to_string();
        let file = self.disk.open_append(&self.dir.join(&name))?;
        files.file = file;
        files.manifest.persist(&*self.disk, &self.dir, &self.prefix)?;
        Ok(name)
    }
}

impl AofSink for Aof {
    fn append(&self, bytes: &[u8]) -> u64 {
        let mut pending = self.pending.lock();
        let mut added = bytes.len() as u64;
        if self.timestamps.load(Ordering::Relaxed) {
            let now = shoal_engine::now_ms() / 1000;
            if now > pending.last_timestamp {
                let line = format!("#TS:{now}\r\n");
                added += line.len() as u64;
                pending.bytes.extend_from_slice(line.as_bytes());
                pending.last_timestamp = now;
            }
        }
        pending.bytes.extend_from_slice(bytes);
        let end = self.appended.fetch_add(added, Ordering::AcqRel) + added;
        // A reply that waits for the write does it (`write_here`), or
        // wakes the writer; the writer looks every 100 ms for the rest.
        end
    }
}

/// Under `always` nothing may be acknowledged that is not on disk, and
/// after a failed sync nothing can be known to be (the kernel may have
/// dropped the dirty pages): the process ends, as Redis's does, before any
/// reply waiting for the sync is sent.
fn fsync_failed_under_always(log: &(dyn Fn(&str) + Send + Sync), error: &str) -> ! {
    log(&format!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {error}. Exiting..."));
    std::process::exit(1);
}

/// Total size of the incr files of `manifest`.
fn incr_bytes(disk: &dyn Disk, dir: &Path, manifest: &Manifest) -> std::io::Result<u64> {
    let mut total = 0;
    for file in &manifest.incr {
        total += disk.size(&dir.join(&file.name))?.unwrap_or(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_persist::aof::disk::Op;
    use shoal_persist::aof::FaultDisk;

    fn open(disk: &FaultDisk, fsync: Fsync) -> Arc<Aof> {
        let dir = PathBuf::from("aofdir");
        let (ok, prefix) = (Arc::new(AtomicBool::new(true)), "appendonly.aof".to_string());
        Aof::open(Arc::new(disk.clone()), dir, prefix, Manifest::default(), 0, fsync, false, ok, false).unwrap()
    }

    #[test]
    fn a_reply_writes_and_syncs_the_batch_itself_under_always() {
        let disk = FaultDisk::new();
        let aof = open(&disk, Fsync::Always);
        let end = aof.append(b"*1\r\n$4\r\nPING\r\n");
        let syncs = disk.count(Op::Sync);
        assert!(aof.write_here());
        assert_eq!(aof.durable(), end);
        assert_eq!(disk.count(Op::Sync), syncs + 1);
    }

    #[test]
    fn a_failed_sync_under_always_acknowledges_nothing_and_is_fatal() {
        let disk = FaultDisk::new();
        let aof = open(&disk, Fsync::Always);
        aof.append(b"*1\r\n$4\r\nPING\r\n");
        disk.fail(Op::Sync, 0);
        assert!(!aof.write_here());
        assert_eq!(aof.durable(), 0, "a write whose sync failed is not durable");
        assert!(aof.sync_failure.lock().is_some(), "the writer is told to end the process");
        // A later sync that succeeds would not make the lost pages durable:
        // nothing else writes here meanwhile.
        assert!(!aof.write_here());
        assert_eq!(aof.durable(), 0);
    }

    #[test]
    fn under_everysec_a_reply_writes_without_syncing() {
        let disk = FaultDisk::new();
        let aof = open(&disk, Fsync::EverySec);
        let end = aof.append(b"*1\r\n$4\r\nPING\r\n");
        let syncs = disk.count(Op::Sync);
        assert!(aof.write_here());
        assert_eq!(aof.durable(), end);
        assert_eq!(disk.count(Op::Sync), syncs);
    }
}
