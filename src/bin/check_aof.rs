//! `shoal-check-aof`: checks (and with `--fix` repairs) an append-only
//! file or a multi-part AOF directory's manifest, like redis-check-aof.

use std::path::Path;

/// RDB data inside an AOF (a preamble or an RDB base) is checked as
/// shoal-check-rdb does; the AOF part goes on where it ends.
fn check_rdb(path: &Path) -> Result<u64, String> {
    shoal_persist::rdb::check::rdb_data_end(path)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let status = shoal_persist::aof::check::run(&args, &mut std::io::stdout(), &mut stdin.lock(), &check_rdb);
    std::process::exit(status);
}
