//! `shoal-sentinel`: Shoal in sentinel mode, as `redis-sentinel` is redis-server's.
//! `shoal-sentinel <sentinel.conf> [--directive value ...]` is `shoal-server <sentinel.conf> --sentinel ...`.

use shoal_server::alloc::Counting;

#[global_allocator]
static GLOBAL: Counting<mimalloc::MiMalloc> = Counting(mimalloc::MiMalloc);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--sentinel").collect();
    std::process::exit(shoal_server::sentinel::run(args));
}
