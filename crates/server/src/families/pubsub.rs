//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. The registry
//! and delivery live in `crate::pubsub`.
//!
//! (Un)subscribe confirmations and messages are pushes: CLIENT REPLY OFF
//! does not silence them (`Ctx::pushed`), as in Redis.

use crate::exec::{Ctx, Registrar};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::{self, Current, Kind};

fn subscribe_kind(ctx: &mut Ctx<'_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    // Inside MULTI a client expects one reply per command: only the
    // classic SUBSCRIBE and PSUBSCRIBE are let through there, for
    // backward compatibility, as Redis does.
    if ctx.in_exec && kind == Kind::Shard {
        return Err(CmdError::err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client"));
    }
    pubsub::subscribe(ctx.server, ctx.client, ctx.out, kind, &argv[1..]);
    ctx.pushed();
    Ok(())
}

fn unsubscribe_kind(ctx: &mut Ctx<'_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    pubsub::unsubscribe(ctx.server, ctx.client, ctx.out, kind, &argv[1..]);
    ctx.pushed();
    Ok(())
}

fn subscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    subscribe_kind(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    subscribe_kind(ctx, argv, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    subscribe_kind(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_kind(ctx, argv, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_kind(ctx, argv, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_kind(ctx, argv, Kind::Shard)
}

fn publish_kind(ctx: &mut Ctx<'_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let current = Current { id: ctx.client.id(), out: ctx.out };
    let receivers = pubsub::publish(ctx.server, Some(current), kind, argv[1], argv[2]);
    ctx.pushed();
    // Replicas get the message too (their own subscribers listen there);
    // the append-only file does not.
    ctx.propagate_to_replicas(argv);
    ctx.out.int(receivers as i64);
    Ok(())
}

fn publish(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    publish_kind(ctx, argv, Kind::Channel)
}

fn spublish(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    publish_kind(ctx, argv, Kind::Shard)
}

fn pubsub_channels_kind(ctx: &mut Ctx<'_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::subcommand_syntax(argv));
    }
    let names = ctx.server.pubsub.active(kind, argv.get(2).copied());
    ctx.out.array(names.len());
    for name in &names {
        ctx.out.bulk(name);
    }
    Ok(())
}

fn pubsub_numsub_kind(ctx: &mut Ctx<'_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    ctx.out.array(2 * (argv.len() - 2));
    for &name in &argv[2..] {
        ctx.out.bulk(name);
        ctx.out.int(ctx.server.pubsub.listeners(kind, name) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pubsub_channels_kind(ctx, argv, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pubsub_channels_kind(ctx, argv, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pubsub_numsub_kind(ctx, argv, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pubsub_numsub_kind(ctx, argv, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.count(Kind::Pattern) as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(
        ctx.out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("subscribe", subscribe);
    r.plain("psubscribe", psubscribe);
    r.plain("ssubscribe", ssubscribe);
    r.plain("unsubscribe", unsubscribe);
    r.plain("punsubscribe", punsubscribe);
    r.plain("sunsubscribe", sunsubscribe);
    r.plain("publish", publish);
    r.plain("spublish", spublish);
    r.plain("pubsub|channels", pubsub_channels);
    r.plain("pubsub|shardchannels", pubsub_shardchannels);
    r.plain("pubsub|numsub", pubsub_numsub);
    r.plain("pubsub|shardnumsub", pubsub_shardnumsub);
    r.plain("pubsub|numpat", pubsub_numpat);
    r.plain("pubsub|help", pubsub_help);
}
