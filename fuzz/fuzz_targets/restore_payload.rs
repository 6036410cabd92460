//! RESTORE's payload decoding on arbitrary bytes: the first byte is the
//! value's type, the rest its RDB form (the footer check is skipped so
//! the fuzzer reaches the decoders); a decoded value is encoded again and
//! must decode to a value of the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_persist::rdb::{decode_payload, dump_payload, verify_payload, DecodeLimits, EncodeOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let limits = DecodeLimits::default();
    let Ok(value) = decode_payload(kind, body, &limits) else { return };
    let payload = dump_payload(&value, EncodeOptions { compress: kind % 2 == 0 });
    let (kind, body) = verify_payload(&payload, true).expect("our own payload verifies");
    let again = decode_payload(kind.expect("a type byte"), body, &limits).expect("our own payload decodes");
    assert_eq!(again.encoding(), value.encoding());
});
