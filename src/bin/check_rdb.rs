//! `shoal-check-rdb <file>`: checks an RDB file (its structure, every
//! value, the checksum) and prints what it found, like redis-check-rdb:
//! the version, the AUX fields, the key counts, or the first error with
//! the offset where it is. Exits 1 on a bad file.

use shoal_persist::rdb::check;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = &args[..] else {
        eprintln!("Usage: shoal-check-rdb <rdb-file-name>");
        std::process::exit(1);
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            println!("Cannot open {path}: {e}");
            std::process::exit(1);
        }
    };
    let mut say = |line: String| println!("{line}");
    let result = check::check(std::io::BufReader::new(file), path, check::now_ms(), &mut say);
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}
