//! `shoal-check-aof`: checks (and with `--fix` repairs) an append-only
//! file or a multi-part AOF directory's manifest, like redis-check-aof.

use std::path::Path;

/// RDB data inside an AOF (a preamble or an RDB base) cannot be checked
/// until the workspace has an RDB reader; such files are reported as not
/// checkable rather than passed.
fn check_rdb(_path: &Path) -> Result<u64, String> {
    Err("checking RDB data is not supported by this build".to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let status = shoal_persist::aof::check::run(&args, &mut std::io::stdout(), &mut stdin.lock(), &check_rdb);
    std::process::exit(status);
}
