//! `shoal-check-aof`: checks (and with `--fix` repairs) an append-only
//! file or a multi-part AOF directory's manifest, like redis-check-aof.

use std::io::BufReader;
use std::path::Path;

use shoal_persist::rdb::{DecodeLimits, Item, Reader};

/// Checks the RDB data at the start of `path` (an RDB preamble or an RDB
/// base): every entry decodes and the checksum matches. Returns where the
/// RDB data ends (an old-style AOF's commands follow).
fn check_rdb(path: &Path) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("Cannot open {}: {e}", path.display()))?;
    let mut reader = Reader::new(BufReader::new(file)).map_err(|e| format!("Wrong signature or version: {e}"))?;
    let limits = DecodeLimits::default();
    loop {
        let at = reader.consumed();
        match reader.next_item() {
            Ok(None) => return Ok(reader.consumed() as u64),
            Ok(Some(Item::Entry(entry))) => {
                entry.decode(&limits).map_err(|e| {
                    format!("[offset {at}] Invalid value of key '{}': {e}", String::from_utf8_lossy(&entry.key))
                })?;
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(format!("[offset {at}] {e}")),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let status = shoal_persist::aof::check::run(&args, &mut std::io::stdout(), &mut stdin.lock(), &check_rdb);
    std::process::exit(status);
}
