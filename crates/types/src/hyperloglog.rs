//! HyperLogLog sketches stored as plain strings, in Redis's byte format, so
//! that a sketch written by redis-server works here and GET returns the
//! bytes Redis would hold after the same commands.
//!
//! Layout: a 16-byte header ("HYLL", an encoding byte, three zero bytes,
//! then the last computed cardinality as a little-endian u64 whose top bit
//! marks it stale), followed by 16384 registers of 6 bits, either
//! - dense: packed least significant bits first, 12288 bytes; or
//! - sparse: run-length opcodes — ZERO `00rrrrrr` (1..=64 zero registers),
//!   XZERO `01rrrrrr rrrrrrrr` (1..=16384 zero registers) and VAL
//!   `1vvvvvrr` (1..=4 registers holding 1..=32).
//!
//! New sketches start sparse and become dense when a register needs a
//! value above 32 or the string would outgrow `hll-sparse-max-bytes`.
//! Elements are hashed with MurmurHash64A (Redis's seed); the estimate is
//! Ertl's improved estimator over the register histogram, as Redis 7.0
//! computes it, so cached cardinalities agree to the byte.

use crate::bytebuf::ByteBuf;

/// Header bytes before the registers.
pub const HEADER_LEN: usize = 16;
/// log2 of the number of registers.
const PRECISION: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << PRECISION;
/// Hash bits left for the run of zeros once the register index is taken.
const RUN_BITS: u32 = 64 - PRECISION;
/// Bits per dense register.
const REGISTER_BITS: usize = 6;
const REGISTER_MASK: u32 = (1 << REGISTER_BITS) - 1;
/// Length of a dense sketch.
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * REGISTER_BITS).div_ceil(8);
/// Length of a fresh sparse sketch (one XZERO covering every register).
const EMPTY_SPARSE_LEN: usize = HEADER_LEN + 2;

const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING_AT: usize = 4;
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
/// The cached cardinality: bytes 8..16, little-endian.
const CARD_AT: usize = 8;
/// Top bit of the cardinality's last byte: set when the cache is stale.
const STALE_BYTE: usize = 15;
const STALE_BIT: u8 = 0x80;

/// Seed Redis feeds MurmurHash64A.
const HASH_SEED: u64 = 0xadc8_3b19;

const XZERO_TAG: u8 = 0x40;
const VAL_TAG: u8 = 0x80;
const TAG_MASK: u8 = 0xc0;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_RUN: usize = 4;
const ZERO_MAX_RUN: usize = 64;
const XZERO_MAX_RUN: usize = 16384;
/// Opcodes examined for merging after a sparse update (Redis's window).
const MERGE_WINDOW: usize = 5;

/// 0.5 / ln 2: the estimator's constant for an infinite register count.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The two encodings of a sketch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    /// PFDEBUG ENCODING's answer.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// The string is not a sketch at all (bad magic, encoding or length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotHll;

/// The string looks like a sketch but its registers do not add up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Checks the header (and the length of a dense sketch).
pub fn check(bytes: &[u8]) -> Result<Encoding, NotHll> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(NotHll);
    }
    match bytes[ENCODING_AT] {
        ENCODING_DENSE if bytes.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENCODING_SPARSE => Ok(Encoding::Sparse),
        _ => Err(NotHll),
    }
}

/// An empty sketch, sparse, with a valid cached cardinality of 0.
pub fn new_sparse() -> ByteBuf {
    let mut bytes = ByteBuf::with_capacity(EMPTY_SPARSE_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.push(ENCODING_SPARSE);
    bytes.resize(HEADER_LEN, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_RUN);
        bytes.extend_from_slice(&xzero(run));
        left -= run;
    }
    bytes
}

/// MurmurHash64A over `data` (little-endian word loads, as Redis does on
/// every platform).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut k = u64::from_le_bytes(word.try_into().expect("chunk of 8"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its run of zeros
/// plus one (1..=51).
pub fn hash_element(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    // A sentinel bit bounds the run at RUN_BITS zeros.
    let rest = (hash >> PRECISION) | (1u64 << RUN_BITS);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------
// Header: cached cardinality.

/// The cached cardinality, if it is still valid.
pub fn cached_cardinality(bytes: &[u8]) -> Option<u64> {
    if bytes[STALE_BYTE] & STALE_BIT != 0 {
        return None;
    }
    Some(u64::from_le_bytes(bytes[CARD_AT..CARD_AT + 8].try_into().expect("8 bytes")))
}

pub fn store_cardinality(bytes: &mut [u8], cardinality: u64) {
    bytes[CARD_AT..CARD_AT + 8].copy_from_slice(&cardinality.to_le_bytes());
}

pub fn invalidate_cache(bytes: &mut [u8]) {
    bytes[STALE_BYTE] |= STALE_BIT;
}

// ---------------------------------------------------------------------------
// Dense registers.

/// Register `index` of a packed register array. The last register's second
/// byte lies past the array; it reads as zero.
fn dense_get(registers: &[u8], index: usize) -> u8 {
    let byte = index * REGISTER_BITS / 8;
    let shift = (index * REGISTER_BITS % 8) as u32;
    let low = u32::from(registers[byte]) >> shift;
    let high = u32::from(registers.get(byte + 1).copied().unwrap_or(0)) << (8 - shift);
    ((low | high) & REGISTER_MASK) as u8
}

fn dense_put(registers: &mut [u8], index: usize, value: u8) {
    let byte = index * REGISTER_BITS / 8;
    let shift = (index * REGISTER_BITS % 8) as u32;
    let value = u32::from(value);
    registers[byte] = ((u32::from(registers[byte]) & !(REGISTER_MASK << shift)) | (value << shift)) as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        let spill = 8 - shift;
        *next = ((u32::from(*next) & !(REGISTER_MASK >> spill)) | (value >> spill)) as u8;
    }
}

/// Raises register `index` to `count`; true if it changed.
fn dense_raise(registers: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(registers, index) {
        dense_put(registers, index, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------
// Sparse opcodes.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers, one byte.
    Zero(usize),
    /// A run of zero registers, two bytes.
    XZero(usize),
    /// A run of registers holding `value`.
    Val { value: u8, run: usize },
}

impl Op {
    fn span(self) -> usize {
        match self {
            Op::Zero(run) | Op::XZero(run) | Op::Val { run, .. } => run,
        }
    }

    fn len(self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
}

/// Decodes the opcode at `at`. A two-byte opcode cut by the end of the
/// string reads its missing byte as zero (Redis reads the terminator).
fn op_at(bytes: &[u8], at: usize) -> Op {
    let b = bytes[at];
    match b & TAG_MASK {
        0 => Op::Zero(usize::from(b & 0x3f) + 1),
        XZERO_TAG => {
            let low = bytes.get(at + 1).copied().unwrap_or(0);
            Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1)
        }
        _ => Op::Val { value: ((b >> 2) & 0x1f) + 1, run: usize::from(b & 0x3) + 1 },
    }
}

fn val(value: u8, run: usize) -> u8 {
    VAL_TAG | ((value - 1) << 2) | (run - 1) as u8
}

fn xzero(run: usize) -> [u8; 2] {
    let n = run - 1;
    [XZERO_TAG | (n >> 8) as u8, (n & 0xff) as u8]
}

/// Appends the shortest opcode for a run of zeros.
fn push_zeros(seq: &mut Vec<u8>, run: usize) {
    if run > ZERO_MAX_RUN {
        seq.extend_from_slice(&xzero(run));
    } else {
        seq.push((run - 1) as u8);
    }
}

/// Iterates over the opcodes of a sparse sketch's register area.
fn ops(bytes: &[u8]) -> impl Iterator<Item = Op> + '_ {
    let mut at = HEADER_LEN;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let op = op_at(bytes, at);
        at += op.len();
        Some(op)
    })
}

/// Calls `f(index, value)` for every non-zero register of a sparse sketch.
/// Fails unless the runs cover exactly all registers: a run that would
/// pass the last register is corruption, even after a complete cover (as
/// in the reference redis-server, which carries the CVE-2025-32023 fix).
fn for_each_sparse_value(bytes: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Corrupt> {
    let mut index = 0;
    for op in ops(bytes) {
        match op {
            Op::Zero(run) | Op::XZero(run) => index += run,
            Op::Val { value, run } => {
                if index + run > REGISTERS {
                    return Err(Corrupt);
                }
                for i in index..index + run {
                    f(i, value);
                }
                index += run;
            }
        }
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

// ---------------------------------------------------------------------------
// Updates.

/// Adds an element; true if a register changed.
pub fn add(bytes: &mut ByteBuf, element: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = hash_element(element);
    raise(bytes, index, count, sparse_max)
}

/// Raises register `index` to at least `count`, in either encoding; true if
/// it changed. A sparse sketch may turn dense on the way.
pub fn raise(bytes: &mut ByteBuf, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if bytes[ENCODING_AT] == ENCODING_DENSE {
        Ok(dense_raise(&mut bytes[HEADER_LEN..], index, count))
    } else {
        sparse_raise(bytes, index, count, sparse_max)
    }
}

/// Converts a sparse sketch to dense in place; false if it was dense
/// already. The header (cached cardinality included) is kept.
pub fn to_dense(bytes: &mut ByteBuf) -> Result<bool, Corrupt> {
    if bytes[ENCODING_AT] == ENCODING_DENSE {
        return Ok(false);
    }
    let mut dense = ByteBuf::with_capacity(DENSE_LEN);
    dense.extend_from_slice(&bytes[..HEADER_LEN]);
    dense.resize(DENSE_LEN, 0);
    dense[ENCODING_AT] = ENCODING_DENSE;
    let registers = &mut dense[HEADER_LEN..];
    for_each_sparse_value(bytes, |i, v| dense_put(registers, i, v))?;
    *bytes = dense;
    Ok(true)
}

fn promote(bytes: &mut ByteBuf, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(bytes)?;
    // The register could not hold `count` before: it changes now.
    Ok(dense_raise(&mut bytes[HEADER_LEN..], index, count))
}

/// The opcode covering register `index`: its byte position, the position
/// of the opcode before it, and the first register it covers.
fn locate(bytes: &[u8], index: usize) -> Result<(usize, Option<usize>, usize, Op), Corrupt> {
    let mut at = HEADER_LEN;
    let mut prev = None;
    let mut first = 0;
    while at < bytes.len() {
        let op = op_at(bytes, at);
        if index < first + op.span() {
            return Ok((at, prev, first, op));
        }
        prev = Some(at);
        at += op.len();
        first += op.span();
    }
    Err(Corrupt)
}

/// Sparse update, producing exactly the opcodes Redis produces: the
/// covering opcode is rewritten in place or split into up to three, then
/// equal neighbouring values are merged.
fn sparse_raise(bytes: &mut ByteBuf, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(bytes, index, count);
    }
    let (at, prev, first, op) = locate(bytes, index)?;
    match op {
        Op::Val { value, .. } if value >= count => return Ok(false),
        Op::Val { run: 1, .. } | Op::Zero(1) => {
            bytes[at] = val(count, 1);
            finish_update(bytes, prev.unwrap_or(HEADER_LEN));
            return Ok(true);
        }
        _ => {}
    }
    let last = first + op.span() - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Val { value, .. } => {
            if index != first {
                seq.push(val(value, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(value, last - index));
            }
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
    }
    let old_len = bytes.len();
    let new_len = old_len + seq.len() - op.len();
    if new_len > old_len && new_len > sparse_max {
        return promote(bytes, index, count);
    }
    replace_op(bytes, at, op.len(), &seq, new_len);
    finish_update(bytes, prev.unwrap_or(HEADER_LEN));
    Ok(true)
}

/// Replaces the `op_len` bytes at `at` with `seq`, leaving `new_len` bytes
/// (shorter than the splice when a cut two-byte opcode was replaced, as in
/// Redis).
fn replace_op(bytes: &mut ByteBuf, at: usize, op_len: usize, seq: &[u8], new_len: usize) {
    let old_len = bytes.len();
    let tail = (at + op_len).min(old_len)..old_len;
    if new_len > old_len {
        bytes.resize(new_len, 0);
    }
    let tail_to = at + seq.len();
    if !tail.is_empty() {
        bytes.copy_within(tail, tail_to);
    }
    let written = seq.len().min(new_len - at);
    bytes[at..at + written].copy_from_slice(&seq[..written]);
    bytes.truncate(new_len);
}

/// Merges adjacent VAL opcodes of equal value (within Redis's window
/// starting at `from`) and marks the cached cardinality stale.
fn finish_update(bytes: &mut ByteBuf, from: usize) {
    let mut at = from;
    let mut budget = MERGE_WINDOW;
    while at < bytes.len() && budget > 0 {
        budget -= 1;
        let op = op_at(bytes, at);
        let Op::Val { value, run } = op else {
            at += op.len();
            continue;
        };
        if at + 1 < bytes.len() {
            if let Op::Val { value: next_value, run: next_run } = op_at(bytes, at + 1) {
                if next_value == value && run + next_run <= VAL_MAX_RUN {
                    bytes[at + 1] = val(value, run + next_run);
                    bytes.remove(at);
                    continue;
                }
            }
        }
        at += 1;
    }
    invalidate_cache(bytes);
}

// ---------------------------------------------------------------------------
// Counting and merging.

/// How many registers hold each value (6-bit values: 64 slots).
pub type Histogram = [u64; 64];

/// The register histogram; Err for a sparse sketch whose runs do not cover
/// exactly all registers.
pub fn histogram(bytes: &[u8]) -> Result<Histogram, Corrupt> {
    let mut histogram = [0u64; 64];
    if bytes[ENCODING_AT] == ENCODING_DENSE {
        let registers = &bytes[HEADER_LEN..];
        for i in 0..REGISTERS {
            histogram[usize::from(dense_get(registers, i))] += 1;
        }
        return Ok(histogram);
    }
    let mut covered = 0;
    for op in ops(bytes) {
        let slot = match op {
            Op::Zero(_) | Op::XZero(_) => 0,
            Op::Val { value, .. } => usize::from(value),
        };
        histogram[slot] += op.span() as u64;
        covered += op.span();
    }
    if covered == REGISTERS {
        Ok(histogram)
    } else {
        Err(Corrupt)
    }
}

/// The histogram of an array of one-byte registers (a merge result).
pub fn histogram_of_registers(registers: &[u8; REGISTERS]) -> Histogram {
    let mut histogram = [0u64; 64];
    for &r in registers.iter() {
        histogram[usize::from(r & 63)] += 1;
    }
    histogram
}

/// The estimated cardinality of a sketch.
pub fn count(bytes: &[u8]) -> Result<u64, Corrupt> {
    histogram(bytes).map(|h| estimate(&h))
}

/// Ertl's estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", 2017), with Redis's order of floating-point
/// operations.
pub fn estimate(histogram: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let top = RUN_BITS as usize + 1;
    let mut z = m * tau((m - histogram[top] as f64) / m);
    for k in (1..top).rev() {
        z += histogram[k] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    let e = (ALPHA_INF * m * m / z).round();
    // 2^63: the first value C's llroundl cannot return.
    let limit = 9_223_372_036_854_775_808.0;
    if (0.0..limit).contains(&e) {
        e as u64
    } else {
        // Out of range for C's llroundl: Redis ends up with LLONG_MIN.
        1 << 63
    }
}

/// Iteration cap of the series below (they converge in far fewer steps; the
/// cap only guards against a non-terminating loop on impossible input).
const SERIES_MAX_STEPS: usize = 4096;

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..SERIES_MAX_STEPS {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..SERIES_MAX_STEPS {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

/// Folds a sketch into `max` (one byte per register, the maximum so far).
pub fn merge_into(max: &mut [u8; REGISTERS], bytes: &[u8]) -> Result<(), Corrupt> {
    if bytes[ENCODING_AT] == ENCODING_DENSE {
        let registers = &bytes[HEADER_LEN..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(registers, i));
        }
        return Ok(());
    }
    for_each_sparse_value(bytes, |i, v| max[i] = max[i].max(v))
}

/// Every register of a dense sketch.
pub fn dense_registers(bytes: &[u8]) -> Vec<u8> {
    let registers = &bytes[HEADER_LEN..];
    (0..REGISTERS).map(|i| dense_get(registers, i)).collect()
}

/// The opcodes of a sparse sketch as PFDEBUG DECODE prints them.
pub fn decode_sparse(bytes: &[u8]) -> String {
    let words: Vec<String> = ops(bytes)
        .map(|op| match op {
            Op::Zero(run) => format!("z:{run}"),
            Op::XZero(run) => format!("Z:{run}"),
            Op::Val { value, run } => format!("v:{value},{run}"),
        })
        .collect();
    words.join(" ")
}

// ---------------------------------------------------------------------------
// Self test (PFSELFTEST).

/// Rounds of random register writes in the register-access test.
const SELFTEST_ROUNDS: usize = 1000;
/// Elements added in the estimation test.
const SELFTEST_ELEMENTS: u64 = 10_000_000;

/// Checks register packing, then adds ten million distinct elements to a
/// dense and a sparse sketch, comparing them and the estimation error at
/// every power of ten. `random` supplies randomness. Err carries the
/// failure message (with its TESTFAILED code).
pub fn selftest(random: &mut dyn FnMut() -> u64, sparse_max: usize) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..4].copy_from_slice(MAGIC);
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..SELFTEST_ROUNDS {
        let registers = &mut dense[HEADER_LEN..];
        for (i, e) in expected.iter_mut().enumerate() {
            *e = (random() as u32 & REGISTER_MASK) as u8;
            dense_put(registers, i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(registers, i);
            if got != e {
                return Err(format!("TESTFAILED Register {i} should be {e} but is {got}"));
            }
        }
    }

    dense[HEADER_LEN..].fill(0);
    let mut sparse = new_sparse();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let seed = random();
    let mut checkpoint: u64 = 1;
    for j in 1..=SELFTEST_ELEMENTS {
        let element = (j ^ seed).to_le_bytes();
        let (index, run) = hash_element(&element);
        dense_raise(&mut dense[HEADER_LEN..], index, run);
        raise(&mut sparse, index, run, sparse_max).map_err(|_| "TESTFAILED corrupted sparse sketch".to_string())?;
        if j != checkpoint {
            continue;
        }
        if j < (sparse_max / 2) as u64 && sparse[ENCODING_AT] != ENCODING_SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let dense_count = count(&dense).unwrap_or(0);
        if count(&sparse).ok() != Some(dense_count) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let error = (checkpoint as i64 - dense_count as i64).unsigned_abs();
        // Collisions make 10 elements noisy: allow one off there.
        let allowed = if j == 10 { 1 } else { (relative_error * 6.0 * checkpoint as f64).ceil() as u64 };
        if error > allowed {
            return Err(format!("TESTFAILED Too big error. card:{checkpoint} abserr:{error}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 3000;

    fn sketch_of(elements: impl IntoIterator<Item = String>, sparse_max: usize) -> ByteBuf {
        let mut s = new_sparse();
        for e in elements {
            add(&mut s, e.as_bytes(), sparse_max).unwrap();
        }
        s
    }

    #[test]
    fn empty_sketch_layout() {
        let s = new_sparse();
        assert_eq!(&s[..], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(check(&s), Ok(Encoding::Sparse));
        assert_eq!(cached_cardinality(&s), Some(0));
        assert_eq!(decode_sparse(&s), "Z:16384");
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // Register and run length read back from redis-server 7.0 with
        // PFADD then PFDEBUG DECODE of a fresh key.
        let reference: [(&[u8], usize, u8); 6] = [
            (b"a", 12711, 2),
            (b"b", 15780, 1),
            (b"c", 8436, 1),
            (b"hello", 9216, 1),
            (b"", 5938, 2),
            (b"12345678", 10579, 3),
        ];
        for (element, index, run) in reference {
            assert_eq!(hash_element(element), (index, run), "{:?}", String::from_utf8_lossy(element));
        }
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn sparse_and_dense_agree() {
        for n in [0usize, 1, 5, 50, 500, 2000] {
            let elements: Vec<String> = (0..n).map(|i| format!("element:{i}")).collect();
            let sparse = sketch_of(elements.clone(), usize::MAX);
            let mut dense = new_sparse();
            to_dense(&mut dense).unwrap();
            for e in &elements {
                add(&mut dense, e.as_bytes(), MAX).unwrap();
            }
            assert_eq!(check(&dense), Ok(Encoding::Dense));
            assert_eq!(count(&sparse).unwrap(), count(&dense).unwrap(), "n={n}");
            let mut converted = sparse.clone();
            to_dense(&mut converted).unwrap();
            assert_eq!(dense_registers(&converted), dense_registers(&dense));
        }
    }

    #[test]
    fn sparse_runs_always_cover_every_register() {
        let s = sketch_of((0..300).map(|i| i.to_string()), usize::MAX);
        assert!(histogram(&s).is_ok());
        // No two adjacent VALs that could have been merged.
        let ops: Vec<Op> = ops(&s).collect();
        for pair in ops.windows(2) {
            if let [Op::Val { value: a, run: r1 }, Op::Val { value: b, run: r2 }] = pair {
                assert!(a != b || r1 + r2 > VAL_MAX_RUN);
            }
        }
    }

    #[test]
    fn promotion_at_the_size_limit() {
        let s = sketch_of((0..1000).map(|i| i.to_string()), 300);
        assert_eq!(check(&s), Ok(Encoding::Dense));
        let s = sketch_of((0..10).map(|i| i.to_string()), 300);
        assert_eq!(check(&s), Ok(Encoding::Sparse));
    }

    #[test]
    fn estimates_are_close() {
        for n in [10u64, 1000, 100_000] {
            let s = sketch_of((0..n).map(|i| format!("x{i}")), MAX);
            let c = count(&s).unwrap() as f64;
            assert!((c - n as f64).abs() <= n as f64 * 0.05 + 1.0, "n={n} c={c}");
        }
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut s = sketch_of(["a".into(), "b".into()], MAX);
        s.extend_from_slice(b"hello");
        assert_eq!(count(&s), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(Corrupt));
        assert_eq!(to_dense(&mut s.clone()), Err(Corrupt));
        // A value run past a complete cover is corruption too.
        let mut s = new_sparse();
        s.push(0xaa);
        assert_eq!(merge_into(&mut max, &s), Err(Corrupt));
        assert_eq!(to_dense(&mut s.clone()), Err(Corrupt));
        assert_eq!(count(&s), Err(Corrupt));
    }

    #[test]
    fn cut_two_byte_opcode_does_not_panic() {
        let mut s = new_sparse();
        s.truncate(HEADER_LEN + 1);
        let _ = add(&mut s, b"x", MAX);
        let _ = count(&s);
        let _ = to_dense(&mut s);
    }

    #[test]
    fn selftest_passes() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // The whole of PFSELFTEST, in every profile: about 0.3 s at the test
        // profile's opt-level 1, 2.5 s at opt-level 0.
        assert_eq!(selftest(&mut random, MAX), Ok(()));
    }
}
