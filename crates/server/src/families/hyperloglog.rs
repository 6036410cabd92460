//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.
//!
//! A sketch is an ordinary string value in Redis's byte format (see
//! `shoal_types::hyperloglog`): GET returns what Redis would hold, and a
//! sketch copied from redis-server with GET/SET works here unchanged.

use std::sync::atomic::Ordering;

use shoal_engine::{events, Lookup, Tx, NO_EXPIRE};
use shoal_types::hyperloglog::{self as hll, Encoding, REGISTERS};
use shoal_types::{ByteBuf, Value};

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

/// The encoding of a value that must be a sketch, or the error Redis gives.
fn sketch_encoding(value: &Value) -> Result<Encoding, CmdError> {
    if !value.is_string() {
        return Err(CmdError::WrongType);
    }
    if matches!(value, Value::Int(_)) {
        return Err(CmdError::NOT_HLL);
    }
    let mut scratch = [0u8; 20];
    let bytes = value.string_bytes(&mut scratch).unwrap_or_default();
    hll::check(bytes).map_err(|_| CmdError::NOT_HLL)
}

fn sparse_max_bytes(ctx: &Ctx<'_>) -> usize {
    let max = ctx.server.tunables.encodings.hll_sparse_max_bytes.load(Ordering::Relaxed);
    usize::try_from(max).unwrap_or(0)
}

/// The sketch under `key` as a modifiable buffer (the caller checked it).
fn sketch_mut<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> &'t mut ByteBuf {
    tx.lookup_mut(key, Lookup::QUIET).expect("sketch checked under the same lock").value_mut().make_raw()
}

/// Registers folded from several sketches: one byte each, the maximum.
fn empty_registers() -> Box<[u8; REGISTERS]> {
    vec![0u8; REGISTERS].into_boxed_slice().try_into().expect("REGISTERS bytes")
}

fn pfadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let sparse_max = sparse_max_bytes(ctx);
    let tx = ctx.tx();
    let mut updated: u64 = 0;
    let mut was_sparse = false;
    match tx.lookup(key, Lookup::WRITE) {
        None => {
            let db = tx.db;
            tx.insert_in(db, key, Value::Raw(hll::new_sparse()), NO_EXPIRE);
            updated += 1;
        }
        Some(entry) => {
            was_sparse = sketch_encoding(entry.value())? == Encoding::Sparse;
        }
    }
    let sketch = sketch_mut(tx, key);
    let mut corrupt = false;
    for element in &argv[2..] {
        match hll::add(sketch, element, sparse_max) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(_) => {
                corrupt = true;
                break;
            }
        }
    }
    // A corrupt sparse sketch can change without the reply saying so: it
    // can turn dense without any register changing (reply 0), or take some
    // elements before the corruption is found (an error). Redis 7.0
    // propagates nothing then and its replicas keep the old bytes; the
    // sketch as it is now keeps them equal.
    let promoted = was_sparse && matches!(hll::check(&sketch[..]), Ok(Encoding::Dense));
    if updated > 0 && !corrupt {
        hll::invalidate_cache(sketch);
        tx.changed(key, events::PFADD, updated);
    } else if updated > 0 || promoted {
        // Redis signals nothing here; only the replicas hear of it.
        if updated > 0 {
            hll::invalidate_cache(sketch);
        }
        let now = sketch[..].to_vec();
        let set = vec![b"SET".to_vec(), key.to_vec(), now, b"KEEPTTL".to_vec()];
        if corrupt {
            // The error reply stops the usual propagation.
            tx.propagate(set);
        } else {
            ctx.propagate_as(vec![set]);
        }
    }
    if corrupt {
        return Err(CmdError::HLL_CORRUPT);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

fn pfcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 2 {
        return pfcount_union(ctx, &argv[1..]);
    }
    let key = argv[1];
    let tx = ctx.tx();
    let Some(entry) = tx.lookup_mut(key, Lookup::READ) else {
        ctx.out.int(0);
        return Ok(());
    };
    sketch_encoding(entry.value())?;
    let sketch = entry.value_mut().make_raw();
    if let Some(cached) = hll::cached_cardinality(sketch) {
        ctx.out.int(cached as i64);
        return Ok(());
    }
    let cardinality = hll::count(sketch).map_err(|_| CmdError::HLL_CORRUPT)?;
    // Caching the result changes the string: replicas get the PFCOUNT too.
    hll::store_cardinality(sketch, cardinality);
    tx.changed_quietly(key, 1);
    ctx.propagate_as(vec![argv.iter().map(|a| a.to_vec()).collect()]);
    ctx.out.int(cardinality as i64);
    Ok(())
}

/// PFCOUNT of several keys: the cardinality of their union (nothing cached).
fn pfcount_union(ctx: &mut Ctx<'_>, keys: &[&[u8]]) -> CmdResult {
    let mut max = empty_registers();
    let tx = ctx.tx();
    for key in keys {
        let Some(entry) = tx.lookup(key, Lookup::READ) else { continue };
        sketch_encoding(entry.value())?;
        let mut scratch = [0u8; 20];
        let bytes = entry.value().string_bytes(&mut scratch).unwrap_or_default();
        hll::merge_into(&mut max, bytes).map_err(|_| CmdError::HLL_CORRUPT)?;
    }
    let cardinality = hll::estimate(&hll::histogram_of_registers(&max));
    ctx.out.int(cardinality as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let dest = argv[1];
    let sparse_max = sparse_max_bytes(ctx);
    let mut max = empty_registers();
    let mut any_dense = false;
    let tx = ctx.tx();
    // The destination is one of the inputs.
    for key in &argv[1..] {
        let Some(entry) = tx.lookup(key, Lookup::READ) else { continue };
        any_dense |= sketch_encoding(entry.value())? == Encoding::Dense;
        let mut scratch = [0u8; 20];
        let bytes = entry.value().string_bytes(&mut scratch).unwrap_or_default();
        hll::merge_into(&mut max, bytes).map_err(|_| CmdError::HLL_CORRUPT)?;
    }
    if tx.lookup(dest, Lookup::WRITE).is_none() {
        let db = tx.db;
        tx.insert_in(db, dest, Value::Raw(hll::new_sparse()), NO_EXPIRE);
    }
    let sketch = sketch_mut(tx, dest);
    // With a dense input the result is made dense first, as Redis does.
    if any_dense {
        hll::to_dense(sketch).map_err(|_| CmdError::HLL_CORRUPT)?;
    }
    for (index, &value) in max.iter().enumerate() {
        if value != 0 {
            // Redis ignores a failure here (the destination was validated).
            let _ = hll::raise(sketch, index, value, sparse_max);
        }
    }
    hll::invalidate_cache(sketch);
    tx.changed(dest, events::PFADD, 1);
    ctx.out.ok();
    Ok(())
}

fn pfdebug(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1];
    let key = argv[2];
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(entry) = tx.lookup_mut(key, Lookup::WRITE) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let encoding = sketch_encoding(entry.value())?;
    let sketch = entry.value_mut().make_raw();
    if parse::is(sub, "getreg") {
        if hll::to_dense(sketch).map_err(|_| CmdError::HLL_CORRUPT)? {
            tx.changed_quietly(key, 1);
        }
        let sketch = sketch_mut(tx, key);
        let registers = hll::dense_registers(sketch);
        ctx.out.array(registers.len());
        for r in registers {
            ctx.out.int(i64::from(r));
        }
    } else if parse::is(sub, "decode") {
        if encoding != Encoding::Sparse {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        ctx.out.bulk(hll::decode_sparse(sketch).as_bytes());
    } else if parse::is(sub, "encoding") {
        ctx.out.simple(encoding.name());
    } else if parse::is(sub, "todense") {
        let converted = hll::to_dense(sketch).map_err(|_| CmdError::HLL_CORRUPT)?;
        if converted {
            tx.changed_quietly(key, 1);
        }
        ctx.out.int(i64::from(converted));
    } else {
        return Err(CmdError::err(format!("Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(sub))));
    }
    Ok(())
}

fn pfselftest(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let sparse_max = sparse_max_bytes(ctx);
    hll::selftest(&mut || rand::random::<u64>(), sparse_max).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("pfadd", pfadd);
    r.keys("pfcount", pfcount);
    r.keys("pfmerge", pfmerge);
    r.keys("pfdebug", pfdebug);
    r.plain("pfselftest", pfselftest);
}
