//! Round trips of every type, the legacy encodings Redis 7.0 still loads,
//! and corrupt or truncated input (an error, never a panic).

use shoal_types::hash::{Hash, HashLimits};
use shoal_types::list::{End, List, ListLimits};
use shoal_types::set::Set;
use shoal_types::stream::{Stream, StreamId};
use shoal_types::zset::{Limits, ZSet};
use shoal_types::Value;

use super::input::Input;
use super::listpack::{Builder, Elem};
use super::*;

fn sample_values() -> Vec<Value> {
    let limits = DecodeLimits::default();
    let mut out = vec![Value::Int(-5), Value::Int(1 << 40), Value::string(b"hello"), Value::string(&[b'x'; 5000])];
    let long: Vec<Vec<u8>> = (0..500).map(|i| format!("element-{i}").into_bytes()).collect();
    out.push(Value::List(List::from_values(long.iter().map(|v| &v[..]), &limits.list)));
    let big_limits = ListLimits::new(-2, 100);
    let mut with_plain = List::new();
    for v in [&b"a"[..], &[b'p'; 300], b"b"] {
        with_plain.push(v, End::Tail, &big_limits);
    }
    out.push(Value::List(with_plain));
    let mut ints = Set::new_intset();
    let mut strings = Set::new_intset();
    for i in 0..50 {
        ints.insert(i.to_string().as_bytes(), 512);
        strings.insert(format!("m{i}").as_bytes(), 512);
    }
    out.push(Value::Set(ints));
    out.push(Value::Set(strings));
    let mut small = Hash::new();
    let mut large = Hash::new();
    let hl = HashLimits { max_entries: 128, max_value: 64 };
    for i in 0..300 {
        if i < 5 {
            small.set(format!("f{i}").as_bytes(), i.to_string().as_bytes(), hl);
        }
        large.set(format!("f{i}").as_bytes(), &long[i][..], hl);
    }
    // A value over hash-max-listpack-value keeps it a table on load.
    large.set(b"long", &[b'v'; 100], hl);
    out.push(Value::Hash(small));
    out.push(Value::Hash(large));
    let zl = Limits { max_entries: 128, max_value: 64 };
    let scores = [1.0, -2.5, f64::INFINITY, f64::NEG_INFINITY, 0.1, 1e300, -0.0];
    let mut zentries: Vec<(Vec<u8>, f64)> = scores.iter().enumerate().map(|(i, s)| (format!("m{i}").into_bytes(), *s)).collect();
    out.push(Value::ZSet(ZSet::from_unique(zentries.clone(), zl)));
    zentries.extend((0..200).map(|i| (format!("z{i}").into_bytes(), i as f64 / 7.0)));
    out.push(Value::ZSet(ZSet::from_unique(zentries, zl)));
    out.push(Value::Stream(Box::new(sample_stream())));
    out
}

fn sample_stream() -> Stream {
    let mut s = Stream::new();
    let limits = shoal_types::stream::NodeLimits { max_bytes: 4096, max_entries: 10 };
    for i in 0..35u64 {
        let v = i.to_string();
        let pairs: Vec<&[u8]> = if i % 4 == 0 { vec![b"a", v.as_bytes()] } else { vec![b"x", v.as_bytes(), b"y", b"z"] };
        s.entries_mut().append(StreamId::new(100 + i / 2, i % 2), &pairs, limits);
    }
    s.entries_mut().delete_ids(&[StreamId::new(101, 0), StreamId::new(110, 1)]);
    s.create_group(b"g", StreamId::new(105, 0), 10);
    let g = s.group_mut(b"g").unwrap();
    let alice = g.create_consumer(b"alice", 77).unwrap();
    g.create_consumer(b"bob", 78).unwrap();
    g.deliver(StreamId::new(100, 1), alice, 1000);
    g.claim(StreamId::new(102, 0), alice, 2000, 3);
    s
}

/// A comparable rendering of a value: its encoding and contents.
fn render(v: &Value) -> (String, Vec<Vec<u8>>) {
    let mut items = Vec::new();
    match v {
        Value::Set(set) => {
            items = set.iter().map(|m| m.to_vec()).collect();
            items.sort();
        }
        Value::Hash(h) => {
            let mut pairs: Vec<Vec<u8>> = h.iter().map(|(f, v)| [f, b"=", v].concat()).collect();
            pairs.sort();
            items = pairs;
        }
        Value::ZSet(z) => items = z.iter().map(|(m, s)| [m, format!("={s:?}").as_bytes()].concat()).collect(),
        Value::List(l) => items = l.iter().map(|e| e.to_vec()).collect(),
        Value::Stream(stream) => {
            for entry in stream.entries().iter() {
                items.push(format!("{}-{}", entry.id.ms, entry.id.seq).into_bytes());
                for (field, value) in entry.fields() {
                    items.push([field, b"=", value].concat());
                }
            }
        }
        other => items.push(other.string_to_vec().unwrap()),
    }
    (v.encoding().to_string(), items)
}

fn round_trip(v: &Value, compress: bool) -> Value {
    let mut out = Vec::new();
    let kind = encode_value(v, &mut out, EncodeOptions { compress });
    let mut input = Input::new(&out);
    let back = decode_value(kind, &mut input, &DecodeLimits::default()).expect("decodes");
    assert!(input.is_empty(), "value bytes left over");
    back
}

#[test]
fn every_type_round_trips_with_its_encoding() {
    for compress in [false, true] {
        for v in sample_values() {
            assert_eq!(render(&round_trip(&v, compress)), render(&v), "{}", v.encoding());
        }
    }
}

#[test]
fn dump_payloads_verify_and_refuse_tampering() {
    for v in sample_values() {
        let payload = dump_payload(&v, EncodeOptions::default());
        let (kind, body) = verify_payload(&payload).unwrap();
        let back = decode_payload(kind.unwrap(), body, &DecodeLimits::default()).unwrap();
        assert_eq!(render(&back), render(&v));
        let mut bad = payload.clone();
        bad[1] ^= 1;
        assert!(verify_payload(&bad).is_none());
    }
}

fn decode(kind: u8, bytes: &[u8], limits: &DecodeLimits) -> Result<Value, Error> {
    decode_value(kind, &mut Input::new(bytes), limits)
}

fn string_blob(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    output::length(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

#[test]
fn legacy_encodings_load_and_convert_as_redis() {
    let limits = DecodeLimits::default();
    // Ziplist list.
    let zl = ziplist::build(&[Elem::Str(b"a"), Elem::Int(7), Elem::Str(b"b")]);
    let v = decode(kind::LIST_ZIPLIST, &string_blob(&zl), &limits).unwrap();
    assert_eq!(render(&v).1, vec![b"a".to_vec(), b"7".to_vec(), b"b".to_vec()]);
    // Old quicklist of ziplists.
    let mut q = vec![2];
    q.extend(string_blob(&zl));
    q.extend(string_blob(&ziplist::build(&[Elem::Str(b"c")])));
    assert_eq!(render(&decode(kind::LIST_QUICKLIST, &q, &limits).unwrap()).1.len(), 4);
    // Ziplist hash: small stays listpack, too many fields become a table.
    let fields: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
    let elems: Vec<Elem<'_>> = fields.iter().flat_map(|f| [Elem::Str(f.as_bytes()), Elem::Int(1)]).collect();
    let blob = string_blob(&ziplist::build(&elems));
    assert_eq!(decode(kind::HASH_ZIPLIST, &blob, &limits).unwrap().encoding(), "listpack");
    let tight = DecodeLimits { hash: HashLimits { max_entries: 4, max_value: 64 }, ..limits };
    assert_eq!(decode(kind::HASH_ZIPLIST, &blob, &tight).unwrap().encoding(), "hashtable");
    // Ziplist zset.
    let z = ziplist::build(&[Elem::Str(b"m"), Elem::Str(b"1.5"), Elem::Str(b"n"), Elem::Int(-2)]);
    let v = decode(kind::ZSET_ZIPLIST, &string_blob(&z), &limits).unwrap();
    assert_eq!(render(&v).1, vec![b"n=-2.0".to_vec(), b"m=1.5".to_vec()]);
    // Zipmap hash.
    let zm = [2u8, 1, b'a', 1, 0, b'1', 1, b'b', 1, 0, b'2', 255];
    let v = decode(kind::HASH_ZIPMAP, &string_blob(&zm), &limits).unwrap();
    assert_eq!((v.encoding(), render(&v).1.len()), ("listpack", 2));
    // Plain list, set, zset with text scores, hash.
    let mut plain = vec![2];
    plain.extend(string_blob(b"x"));
    plain.extend(string_blob(b"y"));
    assert_eq!(render(&decode(kind::LIST, &plain, &limits).unwrap()).1.len(), 2);
    let v = decode(kind::SET, &plain, &limits).unwrap();
    assert_eq!(v.encoding(), "hashtable");
    let mut ints = vec![2];
    ints.extend(string_blob(b"1"));
    ints.extend(string_blob(b"2"));
    assert_eq!(decode(kind::SET, &ints, &limits).unwrap().encoding(), "intset");
    let mut z = vec![2];
    z.extend(string_blob(b"a"));
    z.extend([3, b'1', b'.', b'5']);
    z.extend(string_blob(b"b"));
    z.push(254);
    let v = decode(kind::ZSET, &z, &limits).unwrap();
    assert_eq!(render(&v).1, vec![b"a=1.5".to_vec(), b"b=inf".to_vec()]);
    let mut nan = vec![1];
    nan.extend(string_blob(b"a"));
    nan.push(253);
    assert!(decode(kind::ZSET, &nan, &limits).is_err());
    // Intsets of every width; a large one becomes a table.
    for set in [vec![1i64, 2], vec![-100000, 5], vec![i64::MIN, i64::MAX]] {
        let v = decode(kind::SET_INTSET, &string_blob(&intset::build(&set)), &limits).unwrap();
        assert_eq!(v.encoding(), "intset");
    }
    let many: Vec<i64> = (0..600).collect();
    assert_eq!(decode(kind::SET_INTSET, &string_blob(&intset::build(&many)), &limits).unwrap().encoding(), "hashtable");
    // Listpack zset over the entry limit becomes a skip list.
    let mut lp = Builder::new();
    for i in 0..200 {
        lp.push(format!("m{i}").as_bytes());
        lp.push_int(i);
    }
    assert_eq!(decode(kind::ZSET_LISTPACK, &string_blob(&lp.finish()), &limits).unwrap().encoding(), "skiplist");
}

#[test]
fn old_stream_format_derives_its_metadata() {
    let s = sample_stream();
    let mut v2 = Vec::new();
    stream::encode(&s, &mut v2, false);
    // Rewrite as STREAM_LISTPACKS (v1): drop first/max-deleted/added and
    // each group's entries-read.
    let mut v1 = Vec::new();
    let mut input = Input::new(&v2);
    let nodes = input.length().unwrap();
    output::length(&mut v1, nodes);
    for _ in 0..nodes * 2 {
        output::string(&mut v1, &input.bytes().unwrap(), false);
    }
    for _ in 0..3 {
        output::length(&mut v1, input.length().unwrap());
    }
    for _ in 0..5 {
        input.length().unwrap();
    }
    let groups = input.length().unwrap();
    output::length(&mut v1, groups);
    output::string(&mut v1, &input.bytes().unwrap(), false);
    output::length(&mut v1, input.length().unwrap());
    output::length(&mut v1, input.length().unwrap());
    input.length().unwrap();
    v1.extend_from_slice(input.take(input.remaining() as u64).unwrap());
    let Value::Stream(back) = decode(kind::STREAM_LISTPACKS, &v1, &DecodeLimits::default()).unwrap() else { panic!() };
    assert_eq!(back.entries().len(), s.entries().len());
    assert_eq!(back.entries().entries_added(), s.entries().len());
    assert_eq!(back.group(b"g").unwrap().pending_count(), 2);
}

#[test]
fn empty_collections_are_refused() {
    let limits = DecodeLimits::default();
    for k in [kind::LIST, kind::SET, kind::ZSET_2, kind::HASH, kind::LIST_QUICKLIST_2] {
        assert!(matches!(decode(k, &[0], &limits), Err(Error::EmptyKey)), "{k}");
    }
    let empty_lp = string_blob(&Builder::new().finish());
    assert!(matches!(decode(kind::HASH_LISTPACK, &empty_lp, &limits), Err(Error::EmptyKey)));
    assert!(matches!(decode(kind::MODULE_2, &[0], &limits), Err(Error::Module)));
    assert!(matches!(decode(8, &[0], &limits), Err(Error::UnknownType(8))));
}

#[test]
fn claimed_lengths_beyond_the_input_are_refused_before_allocating() {
    let limits = DecodeLimits::default();
    // A list claiming 2^32 elements, a string claiming 2^60 bytes, an LZF
    // string claiming to expand to 2^40 bytes.
    let mut huge = vec![0x81];
    huge.extend_from_slice(&(1u64 << 32).to_be_bytes());
    assert!(decode(kind::LIST, &huge, &limits).is_err());
    let mut s = vec![0x81];
    s.extend_from_slice(&(1u64 << 60).to_be_bytes());
    assert!(decode(kind::STRING, &s, &limits).is_err());
    let mut lzf = vec![0xC3, 2];
    lzf.push(0x81);
    lzf.extend_from_slice(&(1u64 << 40).to_be_bytes());
    lzf.extend_from_slice(&[0, b'a']);
    assert!(decode(kind::STRING, &lzf, &limits).is_err());
}

#[test]
fn duplicates_are_refused() {
    let limits = DecodeLimits::default();
    let mut lp = Builder::new();
    for v in [&b"f"[..], b"1", b"f", b"2"] {
        lp.push(v);
    }
    let blob = string_blob(&lp.finish());
    assert!(decode(kind::HASH_LISTPACK, &blob, &limits).is_err());
    assert!(decode(kind::ZSET_LISTPACK, &blob, &limits).is_err());
    let mut set = vec![2];
    set.extend(string_blob(b"a"));
    set.extend(string_blob(b"a"));
    assert!(decode(kind::SET, &set, &limits).is_err());
}

/// A deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every truncation and many random mutations of valid payloads give an
/// error or a value, never a panic (the decoder runs under catch_unwind
/// so a panic fails the test with its input).
#[test]
fn mutated_and_truncated_payloads_never_panic() {
    let limits = DecodeLimits::default();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut decoded = 0;
    for v in sample_values() {
        let mut body = Vec::new();
        let kind = encode_value(&v, &mut body, EncodeOptions { compress: true });
        for cut in 0..body.len().min(3000) {
            assert!(decode(kind, &body[..cut], &limits).is_err(), "truncated {} at {cut}", v.encoding());
        }
        for _ in 0..3000 {
            let mut m = body.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                match rng.below(4) {
                    0 => m[at] ^= 1 << rng.below(8),
                    1 => m[at] = rng.next() as u8,
                    2 => {
                        m.remove(at);
                    }
                    _ => m.insert(at, rng.next() as u8),
                }
                if m.is_empty() {
                    break;
                }
            }
            let k = if rng.below(20) == 0 { rng.next() as u8 } else { kind };
            let result = std::panic::catch_unwind(|| decode(k, &m, &limits).map(|v| v.encoding()));
            assert!(result.is_ok(), "decoder panicked on kind {k} input {m:?}");
            decoded += result.unwrap().is_ok() as usize;
        }
    }
    // Some mutations (inside string contents) still decode.
    assert!(decoded > 0);
}

#[test]
fn file_writer_and_reader_agree() {
    let mut w = Writer::new(Vec::new(), EncodeOptions { compress: true }, true);
    w.standard_aux("7.0.15", 1, 2, false).unwrap();
    w.select_db(0, 2, 1).unwrap();
    let values = sample_values();
    for (i, v) in values.iter().enumerate() {
        let access = if i % 2 == 0 { Access::Idle(i as u64) } else { Access::Freq(i as u8) };
        w.entry(format!("k{i}").as_bytes(), v, (i == 3).then_some(123456), access).unwrap();
    }
    w.select_db(5, 1, 0).unwrap();
    w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)").unwrap();
    let bytes = w.finish().unwrap();
    let mut r = Reader::new(&bytes[..]).unwrap();
    let mut entries = Vec::new();
    let mut functions = 0;
    while let Some(item) = r.next_item().unwrap() {
        match item {
            Item::Entry(e) => entries.push(e),
            Item::Function(_) => functions += 1,
            _ => {}
        }
    }
    assert_eq!(entries.len(), values.len());
    assert_eq!(functions, 1);
    assert_eq!(entries[3].expire_ms, Some(123456));
    assert_eq!(entries[2].access, Access::Idle(2));
    assert_eq!(entries[1].access, Access::Freq(1));
    for (e, v) in entries.iter().zip(&values) {
        assert_eq!(render(&e.decode(&DecodeLimits::default()).unwrap()), render(v));
    }
    // A flipped byte is caught by the checksum (or the structure); a
    // newer version and a bad signature are refused.
    let mut bad = bytes.clone();
    let at = bytes.len() / 2;
    bad[at] ^= 0x20;
    assert!(read_all(&bad).is_err());
    let mut newer = bytes.clone();
    newer[5..9].copy_from_slice(b"0011");
    assert!(matches!(Reader::new(&newer[..]), Err(Error::Version(11))));
    assert!(matches!(Reader::new(&b"RUBIS0010"[..]), Err(Error::Signature)));
    for cut in 0..bytes.len() {
        assert!(read_all(&bytes[..cut]).is_err(), "truncated at {cut}");
    }
    // Checksums off: zero, accepted.
    let w = Writer::new(Vec::new(), EncodeOptions::default(), false);
    let bytes = w.finish().unwrap();
    assert_eq!(&bytes[bytes.len() - 8..], &[0; 8]);
    assert!(read_all(&bytes).is_ok());
}

fn read_all(bytes: &[u8]) -> Result<usize, Error> {
    let mut r = Reader::new(bytes)?;
    let mut n = 0;
    while let Some(item) = r.next_item()? {
        if let Item::Entry(e) = item {
            e.decode(&DecodeLimits::default())?;
        }
        n += 1;
    }
    Ok(n)
}

#[test]
fn opcodes_and_types_are_stable() {
    assert_eq!(
        [opcode::FUNCTION2, opcode::MODULE_AUX, opcode::IDLE, opcode::FREQ, opcode::AUX, opcode::RESIZEDB, opcode::EXPIRETIME_MS, opcode::EXPIRETIME, opcode::SELECTDB, opcode::EOF],
        [245, 247, 248, 249, 250, 251, 252, 253, 254, 255]
    );
    assert_eq!([kind::STRING, kind::SET_INTSET, kind::HASH_LISTPACK, kind::ZSET_LISTPACK, kind::LIST_QUICKLIST_2, kind::STREAM_LISTPACKS_2], [0, 11, 16, 17, 18, 19]);
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    let mut out = Vec::new();
    output::length(&mut out, 10);
    output::length(&mut out, 300);
    output::length(&mut out, 70000);
    assert_eq!(out, vec![10, 0x41, 0x2c, 0x80, 0, 1, 0x11, 0x70]);
    let mut out = Vec::new();
    output::string(&mut out, b"123", false);
    output::string(&mut out, b"-1", false);
    output::string(&mut out, b"0123", false);
    assert_eq!(out, vec![0xC0, 123, 0xC0, 0xFF, 4, b'0', b'1', b'2', b'3']);
}
