//! FUNCTION FLUSH and SCRIPT FLUSH. Scripting arrives later; until then
//! there is never a script or function to flush, so these are complete as
//! they are, and test suites that flush before every test can run.

use crate::exec::{Ctx, LockPlan, Registrar};
use crate::error::{parse, CmdError, CmdResult};

fn flush_mode_ok(argv: &[&[u8]]) -> bool {
    match argv.get(2) {
        None => true,
        Some(mode) => argv.len() == 3 && (parse::is(mode, "async") || parse::is(mode, "sync")),
    }
}

fn function_flush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !flush_mode_ok(argv) {
        return Err(CmdError::err("Bad flushing mode, only ASYNC and SYNC are supported"));
    }
    // FUNCTION FLUSH is a write: it reaches replicas even with nothing loaded.
    ctx.tx().add_dirty(1);
    ctx.out.ok();
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !flush_mode_ok(argv) {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.out.ok();
    Ok(())
}

/// An execution unit with no shards: enough to propagate.
fn no_shards(_cmd: &shoal_commands::Command, _argv: &[&[u8]]) -> LockPlan {
    LockPlan::Shards(Default::default())
}

pub fn register(r: &mut Registrar) {
    r.custom("function|flush", function_flush, no_shards);
    r.plain("script|flush", script_flush);
}
