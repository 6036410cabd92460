//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO. They work on string values (made raw when modified in
//! place); the bit arithmetic lives in `shoal_types::bitmap`.

use std::sync::atomic::Ordering;

use shoal_engine::{events, Lookup, Tx, NO_EXPIRE};
use shoal_types::bitmap::{self, BitOp, Overflow, RangeUnit};
use shoal_types::{ByteBuf, Value};

use crate::client::flags;
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

/// Widest unsigned field (a u64 could not be replied as a signed integer).
const UNSIGNED_MAX_BITS: u32 = 63;
/// Below this size a growing bitmap gets amortized (doubling) capacity;
/// from it on, exactly the bytes the offset needs.
const AMORTIZED_GROWTH_LIMIT: usize = 1 << 20;

/// Parses a bit offset as Redis does: a non-negative integer whose byte
/// lies below proto-max-bulk-len (not enforced for our master's stream).
/// With `field_bits`, `#n` means the n-th field of that width.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], field_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    // Redis multiplies without an overflow check; wrapping matches it.
    let offset = shoal_resp::number::parse_i64(digits).ok_or(CmdError::BIT_OFFSET_NOT_INTEGER)?.wrapping_mul(scale);
    let max_bytes = ctx.server.tunables.proto_max_bulk_len.load(Ordering::Relaxed);
    let from_master = ctx.client.info.has_flag(flags::MASTER);
    if offset < 0 || (!from_master && (offset >> 3) >= max_bytes) {
        return Err(CmdError::BIT_OFFSET_NOT_INTEGER);
    }
    Ok(offset as u64)
}

/// Makes `key` a raw string covering bit `last_bit`, creating it (zeroed)
/// or zero-padding it. True if it was created or grew.
fn prepare_bits(tx: &mut Tx<'_>, key: &[u8], last_bit: u64) -> Result<bool, CmdError> {
    let needed = usize::try_from(last_bit / 8 + 1).map_err(|_| CmdError::BIT_OFFSET_NOT_INTEGER)?;
    match tx.lookup_mut(key, Lookup::WRITE) {
        None => {
            let mut bytes = ByteBuf::new();
            bytes.reserve_exact(needed);
            bytes.resize(needed, 0);
            let db = tx.db;
            tx.insert_in(db, key, Value::Raw(bytes), NO_EXPIRE);
            Ok(true)
        }
        Some(entry) => {
            if !entry.value().is_string() {
                return Err(CmdError::WrongType);
            }
            let bytes = entry.value_mut().make_raw();
            if bytes.len() >= needed {
                return Ok(false);
            }
            if needed >= AMORTIZED_GROWTH_LIMIT {
                bytes.reserve_exact(needed - bytes.len());
            }
            bytes.resize(needed, 0);
            Ok(true)
        }
    }
}

/// The raw buffer of a key `prepare_bits` just prepared.
fn prepared_bits<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> &'t mut ByteBuf {
    tx.lookup_mut(key, Lookup::QUIET).expect("key prepared under the same lock").value_mut().make_raw()
}

fn setbit(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let offset = bit_offset(ctx, argv[2], None)?;
    let on = match parse::int(argv[3]) {
        Ok(v @ (0 | 1)) => v == 1,
        _ => return Err(CmdError::BIT_NOT_INTEGER),
    };
    let tx = ctx.tx();
    let grew = prepare_bits(tx, key, offset)?;
    let bytes = prepared_bits(tx, key);
    let old = bitmap::get_bit(bytes, offset);
    if grew || (old == 1) != on {
        bitmap::set_bit(bytes, offset, on);
        tx.changed(key, events::SETBIT, 1);
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

fn getbit(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2], None)?;
    let tx = ctx.tx.as_mut().expect("locked");
    let bit = match tx.lookup(argv[1], Lookup::READ) {
        None => 0,
        Some(entry) => {
            let mut scratch = [0u8; 20];
            let bytes = entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?;
            bitmap::get_bit(bytes, offset)
        }
    };
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// BYTE or BIT.
fn range_unit(arg: &[u8]) -> Result<RangeUnit, CmdError> {
    if parse::is(arg, "bit") {
        Ok(RangeUnit::Bit)
    } else if parse::is(arg, "byte") {
        Ok(RangeUnit::Byte)
    } else {
        Err(CmdError::Syntax)
    }
}

fn bitcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    // A missing key counts 0 before the arguments are even looked at.
    let Some(entry) = tx.lookup(argv[1], Lookup::READ) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut scratch = [0u8; 20];
    let bytes = entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?;
    let range = match argv.len() {
        2 => bitmap::resolve_range(bytes.len(), 0, -1, RangeUnit::Byte),
        4 | 5 => {
            let start = parse::int(argv[2])?;
            let end = parse::int(argv[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let unit = if argv.len() == 5 { range_unit(argv[4])? } else { RangeUnit::Byte };
            bitmap::resolve_range(bytes.len(), start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let count = range.map_or(0, |(first, last)| bitmap::count_range(bytes, first, last));
    ctx.out.int(count as i64);
    Ok(())
}

fn bitpos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let one = match parse::int(argv[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::BITPOS_BIT_NOT_BINARY),
    };
    let tx = ctx.tx.as_mut().expect("locked");
    // A missing key is an endless run of zeros.
    let Some(entry) = tx.lookup(argv[1], Lookup::READ) else {
        ctx.out.int(if one { -1 } else { 0 });
        return Ok(());
    };
    let mut scratch = [0u8; 20];
    let bytes = entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?;
    let (start, end, unit) = match argv.len() {
        3 => (0, None, RangeUnit::Byte),
        4..=6 => {
            let start = parse::int(argv[3])?;
            let unit = if argv.len() == 6 { range_unit(argv[5])? } else { RangeUnit::Byte };
            let end = if argv.len() >= 5 { Some(parse::int(argv[4])?) } else { None };
            (start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    let position = match bitmap::resolve_range(bytes.len(), start, end.unwrap_or(-1), unit) {
        None => -1,
        Some((first, last)) => match bitmap::find_bit(bytes, one, first, last) {
            Some(p) => p as i64,
            // Without an explicit end the string continues with zeros.
            None if !one && end.is_none() => last as i64 + 1,
            None => -1,
        },
    };
    ctx.out.int(position);
    Ok(())
}

fn bitop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let op = BitOp::parse(argv[1]).ok_or(CmdError::Syntax)?;
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::BITOP_NOT_ONE_SOURCE);
    }
    let dest = argv[2];
    let sources = &argv[3..];
    let tx = ctx.tx();
    // First pass: types and the result length (missing keys are empty).
    let mut longest = 0;
    for key in sources {
        if let Some(entry) = tx.lookup(key, Lookup::READ) {
            longest = longest.max(entry.value().string_len().ok_or(CmdError::WrongType)?);
        }
    }
    if longest == 0 {
        if tx.delete_ignoring_expiry(dest) {
            tx.changed(dest, events::DEL, 1);
        }
        ctx.out.int(0);
        return Ok(());
    }
    let mut result = ByteBuf::new();
    result.reserve_exact(longest);
    result.resize(longest, 0);
    for (i, key) in sources.iter().enumerate() {
        let mut scratch = [0u8; 20];
        let bytes = match tx.lookup(key, Lookup::QUIET) {
            Some(entry) => entry.value().string_bytes(&mut scratch).unwrap_or_default(),
            None => &[],
        };
        bitmap::combine(op, &mut result, bytes, i == 0);
    }
    tx.set(dest, Value::Raw(result), false);
    tx.changed(dest, events::SET, 1);
    ctx.out.int(longest as i64);
    Ok(())
}

/// What one BITFIELD operation does.
#[derive(Clone, Copy)]
enum FieldAction {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One parsed BITFIELD operation.
#[derive(Clone, Copy)]
struct FieldOp {
    action: FieldAction,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

impl FieldOp {
    fn writes(&self) -> bool {
        !matches!(self.action, FieldAction::Get)
    }
}

/// A field type: `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(CmdError::BITFIELD_BAD_TYPE),
    };
    // Redis reads the width as a C string: it stops at a NUL byte.
    let digits = arg[1..].split(|&b| b == 0).next().unwrap_or_default();
    let bits = shoal_resp::number::parse_i64(digits).ok_or(CmdError::BITFIELD_BAD_TYPE)?;
    let widest = if signed { bitmap::FIELD_MAX_BITS } else { UNSIGNED_MAX_BITS };
    if bits < 1 || bits > i64::from(widest) {
        return Err(CmdError::BITFIELD_BAD_TYPE);
    }
    Ok((signed, bits as u32))
}

fn overflow_mode(arg: &[u8]) -> Result<Overflow, CmdError> {
    if parse::is(arg, "wrap") {
        Ok(Overflow::Wrap)
    } else if parse::is(arg, "sat") {
        Ok(Overflow::Sat)
    } else if parse::is(arg, "fail") {
        Ok(Overflow::Fail)
    } else {
        Err(CmdError::BITFIELD_BAD_OVERFLOW)
    }
}

/// Parses every subcommand before anything runs, reporting the first
/// error in Redis's order.
fn parse_field_ops(ctx: &Ctx<'_>, argv: &[&[u8]]) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = argv[j];
        let writes = if parse::is(sub, "get") && remaining >= 2 {
            false
        } else if (parse::is(sub, "set") || parse::is(sub, "incrby")) && remaining >= 3 {
            true
        } else if parse::is(sub, "overflow") && remaining >= 1 {
            overflow = overflow_mode(argv[j + 1])?;
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(argv[j + 1])?;
        let offset = bit_offset(ctx, argv[j + 2], Some(bits))?;
        let action = if !writes {
            FieldAction::Get
        } else {
            let value = parse::int(argv[j + 3])?;
            if parse::is(sub, "set") {
                FieldAction::Set(value)
            } else {
                FieldAction::IncrBy(value)
            }
        };
        ops.push(FieldOp { action, signed, bits, offset, overflow });
        j += if writes { 4 } else { 3 };
    }
    Ok(ops)
}

/// Reads a field (zero past the end of the string) as the reply integer.
fn read_field(bytes: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        bitmap::get_signed(bytes, op.offset, op.bits)
    } else {
        bitmap::get_unsigned(bytes, op.offset, op.bits) as i64
    }
}

/// Applies a SET or INCRBY. Returns the reply (None: FAIL overflow) and
/// whether the stored bits changed.
fn write_field(bytes: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    let (old, new, reply) = if op.signed {
        let old = bitmap::get_signed(bytes, op.offset, op.bits);
        let (base, incr) = match op.action {
            FieldAction::Set(v) => (v, 0),
            FieldAction::IncrBy(by) => (old, by),
            FieldAction::Get => (old, 0),
        };
        let Some(new) = bitmap::signed_fit(base, incr, op.bits, op.overflow) else { return (None, false) };
        let reply = if matches!(op.action, FieldAction::Set(_)) { old } else { new };
        (old as u64, new as u64, reply)
    } else {
        let old = bitmap::get_unsigned(bytes, op.offset, op.bits);
        let (base, incr) = match op.action {
            FieldAction::Set(v) => (v as u64, 0),
            FieldAction::IncrBy(by) => (old, by),
            FieldAction::Get => (old, 0),
        };
        let Some(new) = bitmap::unsigned_fit(base, incr, op.bits, op.overflow) else { return (None, false) };
        let reply = if matches!(op.action, FieldAction::Set(_)) { old } else { new };
        (old, new, reply as i64)
    };
    bitmap::set_field(bytes, op.offset, op.bits, new);
    (Some(reply), old != new)
}

fn bitfield(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], read_only_command: bool) -> CmdResult {
    let key = argv[1];
    let ops = parse_field_ops(ctx, argv)?;
    let last_written = ops.iter().filter(|op| op.writes()).map(|op| op.offset + u64::from(op.bits) - 1).max();
    let Some(last_bit) = last_written else {
        return bitfield_read(ctx, key, &ops);
    };
    if read_only_command {
        return Err(CmdError::BITFIELD_RO_GET_ONLY);
    }
    let tx = ctx.tx.as_mut().expect("locked");
    let grew = prepare_bits(tx, key, last_bit)?;
    let bytes = prepared_bits(tx, key);
    let mut changes = 0;
    ctx.out.array(ops.len());
    for op in &ops {
        if !op.writes() {
            ctx.out.int(read_field(bytes, op));
            continue;
        }
        match write_field(bytes, op) {
            (Some(reply), changed) => {
                ctx.out.int(reply);
                if grew || changed {
                    changes += 1;
                }
            }
            (None, _) => ctx.out.null(),
        }
    }
    if changes > 0 {
        tx.changed(key, events::SETBIT, changes);
    } else if grew {
        // Every write failed (OVERFLOW FAIL) but the string was created or
        // padded to hold them: Redis 7.0 counts no change and propagates
        // nothing, leaving its replicas without the key. The same command
        // grows a replica's string alike.
        ctx.propagate_as(vec![argv.iter().map(|a| a.to_vec()).collect()]);
    }
    Ok(())
}

/// BITFIELD with only GETs: a plain read, no key created.
fn bitfield_read(ctx: &mut Ctx<'_>, key: &[u8], ops: &[FieldOp]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    let mut scratch = [0u8; 20];
    let bytes: &[u8] = match tx.lookup(key, Lookup::READ) {
        None => &[],
        Some(entry) => entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?,
    };
    ctx.out.array(ops.len());
    for op in ops {
        ctx.out.int(read_field(bytes, op));
    }
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("setbit", setbit);
    r.keys("getbit", getbit);
    r.keys("bitcount", bitcount);
    r.keys("bitpos", bitpos);
    r.keys("bitop", bitop);
    r.keys("bitfield", bitfield);
    r.keys("bitfield_ro", bitfield_ro);
}
