use super::*;

fn dir() -> PathBuf {
    PathBuf::from("d")
}

fn write(disk: &dyn Disk, name: &str, bytes: &[u8], sync: bool) {
    let mut f = disk.open_append(&dir().join(name)).unwrap();
    f.append(bytes).unwrap();
    if sync {
        f.sync().unwrap();
    }
}

#[test]
fn a_crash_keeps_synced_bytes_of_synced_names() {
    let disk = FaultDisk::new();
    disk.create_dir(&dir()).unwrap();
    write(&disk, "a", b"durable", true);
    write(&disk, "a", b" lost", false);
    disk.sync_dir(&dir()).unwrap();
    write(&disk, "b", b"never named", true);
    let after = disk.crash(false);
    assert_eq!(after.read(&dir().join("a")).unwrap(), b"durable");
    assert!(after.read(&dir().join("b")).is_err());
    assert_eq!(after.list(&dir()), ["a"]);
    // A torn crash keeps part of the unsynced tail.
    let torn = disk.crash(true);
    assert_eq!(torn.read(&dir().join("a")).unwrap(), b"durable l");
}

#[test]
fn a_rename_survives_only_after_the_directory_sync() {
    let disk = FaultDisk::new();
    disk.create_dir(&dir()).unwrap();
    write(&disk, "temp", b"new", true);
    write(&disk, "final", b"old", true);
    disk.sync_dir(&dir()).unwrap();
    disk.rename(&dir().join("temp"), &dir().join("final")).unwrap();
    assert_eq!(disk.read(&dir().join("final")).unwrap(), b"new");
    assert_eq!(disk.crash(false).read(&dir().join("final")).unwrap(), b"old");
    disk.sync_dir(&dir()).unwrap();
    assert_eq!(disk.crash(false).read(&dir().join("final")).unwrap(), b"new");
    assert_eq!(disk.crash(false).list(&dir()), ["final"]);
}

#[test]
fn injected_faults_fail_the_chosen_call_once() {
    let disk = FaultDisk::new();
    disk.create_dir(&dir()).unwrap();
    let mut f = disk.create(&dir().join("f")).unwrap();
    disk.fail(Op::Append, 1);
    disk.set_short_write(2);
    f.append(b"one").unwrap();
    assert!(f.append(b"two").is_err());
    f.append(b"three").unwrap();
    assert_eq!(disk.read(&dir().join("f")).unwrap(), b"onetwthree");
    disk.fail(Op::Sync, 0);
    assert!(f.sync().is_err());
    f.sync().unwrap();
    assert_eq!(disk.count(Op::Sync), 2);
    assert!(disk.open_append(Path::new("missing/f")).is_err());
}

#[test]
fn real_disk_round_trip() {
    let tmp = std::env::temp_dir().join(format!("shoal-disk-test-{}", std::process::id()));
    let disk = RealDisk;
    disk.create_dir(&tmp).unwrap();
    assert!(disk.dir_exists(&tmp));
    let path = tmp.join("file");
    let mut f = disk.create(&path).unwrap();
    f.append(b"hello world").unwrap();
    f.sync().unwrap();
    disk.truncate(&path, 5).unwrap();
    assert_eq!(disk.size(&path).unwrap(), Some(5));
    disk.rename(&path, &tmp.join("other")).unwrap();
    disk.sync_dir(&tmp).unwrap();
    assert_eq!(disk.read(&tmp.join("other")).unwrap(), b"hello");
    assert_eq!(disk.size(&path).unwrap(), None);
    disk.remove(&tmp.join("other")).unwrap();
    std::fs::remove_dir(&tmp).unwrap();
}
