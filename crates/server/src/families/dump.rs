//! DUMP and RESTORE: a value serialized in RDB form (type byte, value,
//! RDB version, CRC64), exactly Redis 7.0's payload, so values move
//! between Shoal and Redis in both directions.
//!
//! RESTORE always checks the payload completely (every packed encoding is
//! walked and checked while it is converted into Shoal's own), whatever
//! `sanitize-dump-payload` says: a corrupt payload gets "Bad data format",
//! never a value that could crash a later command.

use std::sync::atomic::Ordering;

use shoal_engine::{events, Lookup, NO_EXPIRE};
use shoal_persist::rdb;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};

const BUSY_KEY: CmdError = CmdError::Fixed("BUSYKEY Target key name already exists.");
const BAD_PAYLOAD: CmdError = CmdError::Fixed("ERR DUMP payload version or checksum are wrong");
const BAD_DATA: CmdError = CmdError::Fixed("ERR Bad data format");

fn dump(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = ctx.server.rdb_encode_options();
    match ctx.tx().lookup(argv[1], Lookup::READ) {
        Some(entry) => {
            let payload = rdb::dump_payload(entry.value(), options);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<i64>,
}

fn options(argv: &[&[u8]]) -> Result<Options, CmdError> {
    let mut o = Options::default();
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if parse::is(argv[j], "replace") {
            o.replace = true;
        } else if parse::is(argv[j], "absttl") {
            o.absttl = true;
        } else if parse::is(argv[j], "idletime") && more && o.freq.is_none() {
            let idle = parse::int(argv[j + 1])?;
            if idle < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(idle);
            j += 1;
        } else if parse::is(argv[j], "freq") && more && o.idle.is_none() {
            let freq = parse::int(argv[j + 1])?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(freq);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn restore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let o = options(argv)?;
    let key = argv[1];
    if !o.replace && ctx.tx().lookup(key, Lookup::WRITE).is_some() {
        return Err(BUSY_KEY);
    }
    let ttl = parse::int(argv[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let check_crc = !ctx.server.skip_checksum_validation.load(Ordering::Relaxed);
    let (kind, body) = rdb::verify_payload(argv[3], check_crc).ok_or(BAD_PAYLOAD)?;
    let limits = ctx.server.tunables.encodings.rdb_decode_limits();
    let Some(kind) = kind else { return Err(BAD_DATA) };
    let value = match rdb::decode_payload(kind, body, &limits) {
        Ok(value) => value,
        Err(e) => {
            // Redis logs why, at verbose level (the suite looks for its
            // "... integrity check failed" lines).
            ctx.server.log.verbose(&format!("RESTORE of key '{}' refused: {e}", String::from_utf8_lossy(key)));
            return Err(BAD_DATA);
        }
    };
    let server = ctx.server;
    let tx = ctx.tx();
    let db = tx.db;
    let deleted = o.replace && tx.remove_in(db, key).is_some();
    let when = if ttl != 0 && !o.absttl { ttl.saturating_add(tx.now_ms) } else { ttl };
    if when != 0 && when <= tx.now_ms && server.engine.may_delete_expired() {
        if deleted {
            tx.changed(key, events::DEL, 1);
            ctx.propagate_as(vec![vec![b"DEL".to_vec(), key.to_vec()]]);
        }
        ctx.out.ok();
        return Ok(());
    }
    tx.insert_in(db, key, value, if when == 0 { NO_EXPIRE } else { when });
    set_access(ctx, key, &o);
    ctx.tx().changed(key, events::RESTORE, 1);
    if when != 0 && !o.absttl {
        let mut rewritten: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        rewritten[2] = when.to_string().into_bytes();
        rewritten.push(b"ABSTTL".to_vec());
        ctx.propagate_as(vec![rewritten]);
    }
    ctx.out.ok();
    Ok(())
}

/// FREQ under an LFU policy, IDLETIME under any other (the other is
/// ignored), as Redis does.
fn set_access(ctx: &mut Ctx<'_>, key: &[u8], o: &Options) {
    let server = ctx.server;
    let given = if server.engine.eviction.policy().is_lfu() { o.freq.is_some() } else { o.idle.is_some() };
    if given {
        let access = server.access_from(o.idle, o.freq, ctx.tx().now_ms);
        if let Some(entry) = ctx.tx().lookup_mut(key, Lookup::QUIET) {
            entry.set_access(access);
        }
    }
}

pub fn register(r: &mut Registrar) {
    r.keys("dump", dump);
    r.keys("restore", restore);
    // MIGRATE's form in a cluster; the same command outside one.
    r.keys("restore-asking", restore);
}
