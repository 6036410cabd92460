//! The RDB file reader on arbitrary bytes: every item is read and every
//! entry's value decoded; anything may fail, nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_persist::rdb::{DecodeLimits, Item, Reader};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    let Ok(mut reader) = Reader::new(data) else { return };
    while let Ok(Some(item)) = reader.next_item() {
        if let Item::Entry(entry) = item {
            let _ = entry.decode(&limits);
        }
    }
});
