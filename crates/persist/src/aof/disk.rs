//! The few filesystem operations the append-only file needs, behind a trait
//! so tests can inject faults and crashes: `RealDisk` is the filesystem,
//! `FaultDisk` an in-memory one that loses what was never made durable.
//!
//! Durability model (what POSIX promises, and what `FaultDisk::crash`
//! keeps): a file's bytes survive a crash up to its last `sync`; a file's
//! name (creation, rename, removal) survives once its directory was synced.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A file open for appending.
pub trait AppendFile: Send {
    /// Writes all of `bytes` at the end of the file.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every byte appended so far durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
}

/// Filesystem operations of the append-only file.
pub trait Disk: Send + Sync {
    /// Opens `path` for appending, creating it empty if missing.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// Creates (or empties) `path` and opens it for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// The whole contents of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The size of `path`, or None if it does not exist.
    fn size(&self, path: &Path) -> io::Result<Option<u64>>;
    /// Cuts `path` to `len` bytes and makes that durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Creates directory `dir` (and its parents) if missing.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// True if `dir` exists as a directory.
    fn dir_exists(&self, dir: &Path) -> bool;
    /// Makes the names in `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealDisk;

struct RealFile(File);

impl AppendFile for RealFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Disk for RealDisk {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn size(&self, path: &Path) -> io::Result<Option<u64>> {
        match fs::metadata(path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn dir_exists(&self, dir: &Path) -> bool {
        dir.is_dir()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Operations a `FaultDisk` can be told to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Open,
    Append,
    Sync,
    Read,
    Truncate,
    Rename,
    Remove,
    CreateDir,
    SyncDir,
}

#[derive(Clone, Default)]
struct MemFile {
    /// Everything written, durable or not.
    bytes: Vec<u8>,
    /// How many leading bytes a crash keeps.
    synced: usize,
}

#[derive(Default)]
struct State {
    /// Live names and their contents (shared by hard links after rename).
    files: BTreeMap<PathBuf, Arc<Mutex<MemFile>>>,
    /// Per directory, the names a crash keeps, as of its last sync.
    durable_names: BTreeMap<PathBuf, BTreeMap<PathBuf, Arc<Mutex<MemFile>>>>,
    dirs: BTreeSet<PathBuf>,
    /// Operations to fail: (op, how many more calls succeed first).
    faults: Vec<(Op, usize)>,
    /// An append that fails writes this many bytes first (a short write).
    short_write: usize,
    ops: BTreeMap<Op, u64>,
}

/// An in-memory disk with injectable faults and crashes (tests).
#[derive(Clone, Default)]
pub struct FaultDisk {
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn injected() -> io::Error {
    io::Error::other("injected fault")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl State {
    /// Counts `op` and says whether it must fail now.
    fn fails(&mut self, op: Op) -> bool {
        *self.ops.entry(op).or_default() += 1;
        let Some(i) = self.faults.iter().position(|(o, _)| *o == op) else {
            return false;
        };
        if self.faults[i].1 > 0 {
            self.faults[i].1 -= 1;
            return false;
        }
        self.faults.remove(i);
        true
    }

    fn check(&mut self, op: Op) -> io::Result<()> {
        if self.fails(op) {
            Err(injected())
        } else {
            Ok(())
        }
    }

    fn require_dir(&self, path: &Path) -> io::Result<()> {
        let dir = parent(path);
        if dir.as_os_str().is_empty() || self.dirs.contains(&dir) {
            Ok(())
        } else {
            Err(not_found(&dir))
        }
    }

    fn file(&self, path: &Path) -> io::Result<Arc<Mutex<MemFile>>> {
        self.files.get(path).cloned().ok_or_else(|| not_found(path))
    }
}

struct FaultFile {
    disk: FaultDisk,
    file: Arc<Mutex<MemFile>>,
}

impl AppendFile for FaultFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.disk.state();
        let fail = state.fails(Op::Append);
        let mut file = lock(&self.file);
        if fail {
            let short = state.short_write.min(bytes.len());
            file.bytes.extend_from_slice(&bytes[..short]);
            return Err(injected());
        }
        file.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.disk.state().check(Op::Sync)?;
        let mut file = lock(&self.file);
        file.synced = file.bytes.len();
        Ok(())
    }
}

impl FaultDisk {
    pub fn new() -> FaultDisk {
        FaultDisk::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Makes the call to `op` after the next `after` ones fail.
    pub fn fail(&self, op: Op, after: usize) {
        self.state().faults.push((op, after));
    }

    /// A failing append first writes this many bytes.
    pub fn set_short_write(&self, bytes: usize) {
        self.state().short_write = bytes;
    }

    /// How many times `op` was called.
    pub fn count(&self, op: Op) -> u64 {
        self.state().ops.get(&op).copied().unwrap_or(0)
    }

    /// The disk as a restart after a power loss would find it: only the
    /// names its directories had at their last sync, each file cut to what
    /// was last synced (`torn`: plus the first half of what was not, as a
    /// write torn by the crash).
    pub fn crash(&self, torn: bool) -> FaultDisk {
        let state = self.state();
        let mut files = BTreeMap::new();
        for names in state.durable_names.values() {
            for (path, file) in names {
                let file = lock(file);
                let unsynced = file.bytes.len() - file.synced;
                let keep = file.synced + if torn { unsynced / 2 } else { 0 };
                let bytes = file.bytes[..keep].to_vec();
                files.insert(path.clone(), Arc::new(Mutex::new(MemFile { synced: bytes.len(), bytes })));
            }
        }
        let mut durable_names: BTreeMap<PathBuf, BTreeMap<PathBuf, Arc<Mutex<MemFile>>>> = BTreeMap::new();
        for (path, file) in &files {
            durable_names.entry(parent(path)).or_default().insert(path.clone(), file.clone());
        }
        let after = State { files, durable_names, dirs: state.dirs.clone(), ..State::default() };
        FaultDisk { state: Arc::new(Mutex::new(after)) }
    }

    /// The names of the files in `dir`, sorted.
    pub fn list(&self, dir: &Path) -> Vec<String> {
        let state = self.state();
        let names = state.files.keys().filter(|p| parent(p) == dir);
        names.filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect()
    }

    fn open(&self, path: &Path, empty: bool) -> io::Result<Box<dyn AppendFile>> {
        let mut state = self.state();
        state.check(Op::Open)?;
        state.require_dir(path)?;
        let file = state.files.entry(path.to_path_buf()).or_default().clone();
        if empty {
            let mut f = lock(&file);
            f.bytes.clear();
            f.synced = 0;
        }
        Ok(Box::new(FaultFile { disk: self.clone(), file }))
    }
}

impl Disk for FaultDisk {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        self.open(path, false)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        self.open(path, true)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut state = self.state();
        state.check(Op::Read)?;
        let file = state.file(path)?;
        let bytes = lock(&file).bytes.clone();
        Ok(bytes)
    }

    fn size(&self, path: &Path) -> io::Result<Option<u64>> {
        let state = self.state();
        Ok(state.files.get(path).map(|f| lock(f).bytes.len() as u64))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut state = self.state();
        state.check(Op::Truncate)?;
        let file = state.file(path)?;
        let mut file = lock(&file);
        let len = (len as usize).min(file.bytes.len());
        file.bytes.truncate(len);
        file.synced = len;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check(Op::Rename)?;
        state.require_dir(to)?;
        let file = state.files.remove(from).ok_or_else(|| not_found(from))?;
        state.files.insert(to.to_path_buf(), file);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check(Op::Remove)?;
        state.files.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check(Op::CreateDir)?;
        let mut at = dir.to_path_buf();
        loop {
            state.dirs.insert(at.clone());
            if !at.pop() || at.as_os_str().is_empty() {
                return Ok(());
            }
        }
    }

    fn dir_exists(&self, dir: &Path) -> bool {
        self.state().dirs.contains(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check(Op::SyncDir)?;
        let names: BTreeMap<PathBuf, Arc<Mutex<MemFile>>> =
            state.files.iter().filter(|(p, _)| parent(p) == dir).map(|(p, f)| (p.clone(), f.clone())).collect();
        state.durable_names.insert(dir.to_path_buf(), names);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
