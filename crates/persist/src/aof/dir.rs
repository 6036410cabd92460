//! Changes to the AOF directory that touch files and the manifest
//! together, each all or nothing: when one fails, the manifest (in memory
//! and on disk) is as before and what was created is removed. A failure
//! can come after the new manifest was renamed into place (its directory
//! sync failed), so the old one is written back before anything is
//! removed; if even that fails, the new file stays, since the manifest on
//! disk may name it.

use std::io;
use std::path::Path;

use super::disk::{AppendFile, Disk};
use super::manifest::Manifest;

impl Manifest {
    /// Starts a new incr file (at start-up, or when a rewrite begins, so
    /// the rewrite's base will cover every older file): creates it empty,
    /// names it in the manifest and persists the manifest. Returns its name
    /// and the file, open for appending.
    pub fn open_new_incr(
        &mut self,
        disk: &dyn Disk,
        dir: &Path,
        prefix: &str,
    ) -> io::Result<(String, Box<dyn AppendFile>)> {
        let mut next = self.clone();
        let name = next.add_incr(prefix).to_string();
        let path = dir.join(&name);
        let file = disk.create(&path)?;
        if let Err(e) = next.persist(disk, dir, prefix) {
            self.undo(disk, dir, prefix, &path);
            return Err(e);
        }
        *self = next;
        Ok((name, file))
    }

    /// Installs a finished rewrite: `temp_base` (a file in `dir`, already
    /// synced) becomes the new base (`rdb`: RDB format), the old base and
    /// the incr files it covers become history (`keep_last`: the last incr
    /// file, the one appends went to during the rewrite, stays), and the
    /// manifest is persisted. History files are then the caller's to
    /// delete (`delete_history`), now or later.
    pub fn install_rewrite(
        &mut self,
        disk: &dyn Disk,
        dir: &Path,
        prefix: &str,
        temp_base: &str,
        rdb: bool,
        keep_last: bool,
    ) -> io::Result<()> {
        let mut next = self.clone();
        let base = dir.join(next.new_base(prefix, rdb));
        next.retire_incr(keep_last);
        disk.rename(&dir.join(temp_base), &base)?;
        if let Err(e) = next.persist(disk, dir, prefix) {
            self.undo(disk, dir, prefix, &base);
            return Err(e);
        }
        *self = next;
        Ok(())
    }

    /// Puts this manifest back on disk, then removes `created`. A
    /// manifest that lists nothing is removed rather than written (an empty
    /// manifest file cannot be loaded).
    fn undo(&self, disk: &dyn Disk, dir: &Path, prefix: &str, created: &Path) {
        let restored = if self.is_empty() && self.history.is_empty() {
            match disk.remove(&dir.join(super::manifest::manifest_name(prefix))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => disk.sync_dir(dir),
            }
        } else {
            self.persist(disk, dir, prefix)
        };
        if restored.is_ok() {
            let _ = disk.remove(created);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::aof::disk::{FaultDisk, Op};
    use crate::aof::manifest::{FileKind, Manifest};
    use crate::aof::Disk;
    use std::path::Path;

    const PREFIX: &str = "appendonly.aof";

    fn loaded(disk: &FaultDisk, dir: &Path) -> Manifest {
        Manifest::load(disk, dir, PREFIX).unwrap().unwrap().unwrap()
    }

    #[test]
    fn a_rewrite_cycle_survives_crashes_at_every_step() {
        let disk = FaultDisk::new();
        let dir = Path::new("appendonlydir");
        disk.create_dir(dir).unwrap();
        let mut m = Manifest::default();
        let (first, mut file) = m.open_new_incr(&disk, dir, PREFIX).unwrap();
        file.append(b"*1\r\n$4\r\nPING\r\n").unwrap();
        file.sync().unwrap();
        assert_eq!(loaded(&disk.crash(false), dir), m);
        // A rewrite starts: appends move to a new incr file.
        let (second, _) = m.open_new_incr(&disk, dir, PREFIX).unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"));
        let mut base = disk.create(&dir.join("temp-rewrite.aof")).unwrap();
        base.append(b"*1\r\n$4\r\nPING\r\n").unwrap();
        base.sync().unwrap();
        // Persisting fails: nothing changes, the new base name is gone.
        let before = m.clone();
        disk.fail(Op::SyncDir, 0);
        assert!(m.install_rewrite(&disk, dir, PREFIX, "temp-rewrite.aof", false, true).is_err());
        assert_eq!(m, before);
        assert!(!disk.list(dir).contains(&"appendonly.aof.1.base.aof".to_string()));
        // Succeeds on a new try from a fresh temp file.
        let mut base = disk.create(&dir.join("temp-rewrite.aof")).unwrap();
        base.append(b"*1\r\n$4\r\nPING\r\n").unwrap();
        base.sync().unwrap();
        m.install_rewrite(&disk, dir, PREFIX, "temp-rewrite.aof", false, true).unwrap();
        let after_crash = disk.crash(false);
        let on_disk = loaded(&after_crash, dir);
        assert_eq!(on_disk, m);
        assert_eq!(
            on_disk.base.as_ref().map(|b| (b.name.as_str(), b.kind)),
            Some(("appendonly.aof.1.base.aof", FileKind::Base))
        );
        assert_eq!(on_disk.history.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), [first.as_str()]);
        assert_eq!(on_disk.incr.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), [second.as_str()]);
        assert_eq!(after_crash.read(&dir.join("appendonly.aof.1.base.aof")).unwrap(), b"*1\r\n$4\r\nPING\r\n");
        m.delete_history(&disk, dir, PREFIX).unwrap();
        let names = disk.crash(false).list(dir);
        assert_eq!(names, ["appendonly.aof.1.base.aof", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]);
    }

    #[test]
    fn a_new_incr_file_that_cannot_be_named_is_removed() {
        let disk = FaultDisk::new();
        let dir = Path::new("d");
        disk.create_dir(dir).unwrap();
        let mut m = Manifest::default();
        disk.fail(Op::Rename, 0);
        assert!(m.open_new_incr(&disk, dir, PREFIX).is_err());
        assert_eq!(m, Manifest::default());
        assert_eq!(disk.list(dir), ["temp-appendonly.aof.manifest"]);
        let (name, _) = m.open_new_incr(&disk, dir, PREFIX).unwrap();
        assert_eq!(name, "appendonly.aof.1.incr.aof");
    }
}
