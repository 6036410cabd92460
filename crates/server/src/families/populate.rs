//! DEBUG POPULATE <count> [<prefix>] [<size>]: fills the selected database
//! with string keys `<prefix>:<n>` (prefix `key`) holding `value:<n>`, for n
//! from 0 to count-1, as Redis 7.0 does: with a size, each value is cut or
//! padded with zero bytes to that many bytes; keys that exist are left
//! alone; names longer than 127 bytes are cut (Redis formats them into a
//! 128-byte buffer, and the prefix ends at a zero byte, as a C string).
//! Like Redis's, it counts no change for persistence and propagates
//! nothing; WATCHers of the created keys are touched.

use shoal_engine::NO_EXPIRE;
use shoal_types::value::Value;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::Ctx;

/// The longest key name Redis's formatting produces.
const NAME_MAX: usize = 127;

fn non_negative(arg: &[u8]) -> Result<usize, CmdError> {
    let value = parse::int(arg).ok().filter(|v| *v >= 0).ok_or(CmdError::NotPositive)?;
    usize::try_from(value).map_err(|_| CmdError::NotPositive)
}

pub fn populate(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let count = non_negative(argv[2])?;
    let size = match argv.get(4) {
        Some(arg) => non_negative(arg)?,
        None => 0,
    };
    let prefix = argv.get(3).map_or(&b"key"[..], |p| p.split(|&b| b == 0).next().unwrap_or_default());
    let tx = ctx.tx.as_mut().expect("locked");
    let db = tx.db;
    let mut name = Vec::with_capacity(NAME_MAX);
    for n in 0..count {
        name.clear();
        name.extend_from_slice(prefix);
        name.extend_from_slice(format!(":{n}").as_bytes());
        name.truncate(NAME_MAX);
        if tx.exists_in(db, &name) {
            continue;
        }
        let mut value = format!("value:{n}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        tx.insert_in(db, &name, Value::string_verbatim(&value), NO_EXPIRE);
    }
    ctx.out.ok();
    Ok(())
}
