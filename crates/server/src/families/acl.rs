//! ACL: SETUSER, GETUSER, DELUSER, USERS, LIST, WHOAMI, CAT, GENPASS,
//! LOG, DRYRUN, SAVE, LOAD, HELP.

use shoal_commands::table;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use shoal_resp::ReplyBuf;

use crate::state::acl::{categories, Denied};
use crate::state::users::Users;

fn setuser(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let name = argv[2];
    if !crate::state::acl::valid_name(name) {
        return Err(CmdError::err("Usernames can't contain spaces or null characters"));
    }
    let (old, new) = ctx.server.acl.set_user(name, &argv[3..]).map_err(CmdError::err)?;
    if let Some(old) = old {
        crate::acl::recheck_subscribers(ctx.server, ctx.client, &old, &new);
    }
    ctx.out.ok();
    Ok(())
}

fn deluser(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv[2..].iter().any(|n| *n == b"default") {
        return Err(CmdError::err("The 'default' user cannot be removed"));
    }
    let gone = ctx.server.acl.delete(&argv[2..]);
    crate::acl::disconnect_users(ctx.server, ctx.client, &gone);
    ctx.out.int(gone.len() as i64);
    Ok(())
}

fn getuser(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    getuser_reply(&ctx.server.acl, ctx.out, argv[2]);
    Ok(())
}

/// ACL GETUSER's reply (the sentinel's too).
pub fn getuser_reply(users: &Users, out: &mut ReplyBuf, name: &[u8]) {
    let Some(cell) = users.get(name) else {
        out.null();
        return;
    };
    let user = cell.rules().clone();
    let universe = &users.universe;
    out.map(6);
    out.bulk_str("flags");
    let flags = user.flags();
    out.set(flags.len());
    flags.iter().for_each(|f| out.bulk_str(f));
    out.bulk_str("passwords");
    out.array(user.passwords.len());
    user.passwords.iter().for_each(|p| out.bulk_str(p));
    for (field, text) in user.selector_fields(0, universe) {
        out.bulk_str(field);
        out.bulk_str(&text);
    }
    out.bulk_str("selectors");
    out.array(user.selectors.len() - 1);
    for index in 1..user.selectors.len() {
        out.map(3);
        for (field, text) in user.selector_fields(index, universe) {
            out.bulk_str(field);
            out.bulk_str(&text);
        }
    }
}

fn users(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    users_reply(&ctx.server.acl, ctx.out);
    Ok(())
}

/// ACL USERS's reply.
pub fn users_reply(users: &Users, out: &mut ReplyBuf) {
    let names = users.names();
    out.array(names.len());
    names.iter().for_each(|n| out.bulk(n));
}

fn list(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    list_reply(&ctx.server.acl, ctx.out);
    Ok(())
}

/// ACL LIST's reply.
pub fn list_reply(users: &Users, out: &mut ReplyBuf) {
    let lines = users.lines();
    out.array(lines.len());
    lines.iter().for_each(|l| out.bulk_str(l));
}

fn whoami(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    match &ctx.client.user {
        Some(user) => ctx.out.bulk(&user.name),
        None => ctx.out.null(),
    }
    Ok(())
}

fn cat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    cat_reply(&ctx.server.acl, ctx.out, argv)
}

/// ACL CAT's reply.
pub fn cat_reply(users: &Users, out: &mut ReplyBuf, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => {
            let names: Vec<&str> = categories().map(|(_, n)| n).collect();
            out.array(names.len());
            names.iter().for_each(|n| out.bulk_str(n));
        }
        3 => {
            let Some((flag, _)) = categories().find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(argv[2])) else {
                let shown = &argv[2][..argv[2].len().min(128)];
                return Err(CmdError::err_bytes(&[b"Unknown category '", shown, b"'"]));
            };
            let names: Vec<&str> = users.universe.in_category(flag).map(|c| c.name).collect();
            out.array(names.len());
            names.iter().for_each(|n| out.bulk_str(n));
        }
        _ => return Err(CmdError::subcommand_syntax(argv)),
    }
    Ok(())
}

const GENPASS_MAX_BITS: i64 = 4096;

fn genpass(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    genpass_reply(ctx.out, argv)
}

/// ACL GENPASS's reply.
pub fn genpass_reply(out: &mut ReplyBuf, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::subcommand_syntax(argv));
    }
    let bits = match argv.get(2) {
        Some(arg) => parse::int(arg)?,
        None => 256,
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return Err(CmdError::err(format!(
            "ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_MAX_BITS}"
        )));
    }
    let chars = ((bits + 3) / 4) as usize;
    let hex: String = (0..chars).map(|_| char::from(b"0123456789abcdef"[rand::random::<u8>() as usize % 16])).collect();
    out.bulk_str(&hex);
    Ok(())
}

fn log(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    log_reply(&ctx.server.acl, ctx.out, argv)
}

/// ACL LOG's reply (or RESET).
pub fn log_reply(users: &Users, out: &mut ReplyBuf, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::subcommand_syntax(argv));
    }
    let mut count = 10;
    if let Some(arg) = argv.get(2) {
        if parse::is(arg, "reset") {
            users.log_reset();
            out.ok();
            return Ok(());
        }
        count = parse::int(arg)?.max(0);
    }
    let entries = users.log_entries(count as usize);
    let now = shoal_engine::now_ms();
    out.array(entries.len());
    for e in entries {
        out.map(7);
        out.bulk_str("count");
        out.int(e.count as i64);
        out.bulk_str("reason");
        out.bulk_str(e.reason);
        out.bulk_str("context");
        out.bulk_str(e.context);
        out.bulk_str("object");
        out.bulk(&e.object);
        out.bulk_str("username");
        out.bulk(&e.username);
        out.bulk_str("age-seconds");
        out.double((now - e.ctime_ms) as f64 / 1000.0);
        out.bulk_str("client-info");
        out.bulk_str(&e.client_info);
    }
    Ok(())
}

fn dryrun(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    dryrun_reply(&ctx.server.acl, ctx.out, argv)
}

/// ACL DRYRUN's reply.
pub fn dryrun_reply(users: &Users, out: &mut ReplyBuf, argv: &[&[u8]]) -> CmdResult {
    let Some(user) = users.get(argv[2]) else {
        return Err(CmdError::err_bytes(&[b"User '", argv[2], b"' not found"]));
    };
    let args = &argv[3..];
    let Some(cmd) = table().resolve(args) else {
        return Err(CmdError::err_bytes(&[b"Command '", args[0], b"' not found"]));
    };
    if !cmd.arity_ok(args.len()) {
        return Err(CmdError::wrong_arity(cmd.name));
    }
    let result = user.rules().check(cmd, args);
    match result {
        Ok(()) => out.ok(),
        Err(Denied::Command) => {
            out.bulk_str(&format!("This user has no permissions to run the '{}' command", cmd.name))
        }
        Err(Denied::Key(i)) => {
            let text = [b"This user has no permissions to access the '" as &[u8], args[i], b"' key"].concat();
            out.bulk(&text);
        }
        Err(Denied::Channel(i)) => {
            let text = [b"This user has no permissions to access the '" as &[u8], args[i], b"' channel"].concat();
            out.bulk(&text);
        }
    }
    Ok(())
}

/// ACL LOAD and SAVE without an ACL file.
pub const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// The ACL file, or the error LOAD and SAVE give without one.
fn aclfile(ctx: &Ctx<'_>) -> Result<String, CmdError> {
    let path = ctx.server.config.get_string("aclfile");
    if path.is_empty() {
        return Err(CmdError::Fixed(NO_ACL_FILE));
    }
    Ok(path)
}

fn load(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let path = aclfile(ctx)?;
    crate::acl::load_file(ctx.server, Some(ctx.client), &path).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let path = aclfile(ctx)?;
    crate::acl::save_file(ctx.server, &path).map_err(|_| {
        CmdError::err("There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    ctx.out.ok();
    Ok(())
}

/// ACL HELP's lines (also the sentinel's).
pub const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

fn help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(ctx.out, "ACL", HELP);
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("acl|setuser", setuser);
    r.plain("acl|deluser", deluser);
    r.plain("acl|getuser", getuser);
    r.plain("acl|users", users);
    r.plain("acl|list", list);
    r.plain("acl|whoami", whoami);
    r.plain("acl|cat", cat);
    r.plain("acl|genpass", genpass);
    r.plain("acl|log", log);
    r.plain("acl|dryrun", dryrun);
    r.plain("acl|load", load);
    r.plain("acl|save", save);
    r.plain("acl|help", help);
}
