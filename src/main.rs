//! `shoal-server`: a Redis-compatible, multithreaded in-memory data store.
//! Takes redis-server's command line: `shoal-server [redis.conf] [--directive value ...]`.

use shoal_server::alloc::Counting;

#[global_allocator]
static GLOBAL: Counting<mimalloc::MiMalloc> = Counting(mimalloc::MiMalloc);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(shoal_server::run(args));
}
