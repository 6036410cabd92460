//! ACL enforcement and the server's side of users: the permission check
//! every command passes (`dispatch`, EXEC, scripts), the ACL log entries,
//! closing connections whose user went away or lost channels, and the
//! ACL file. The user model is `state::acl`, the registry `state::users`.

use std::sync::Arc;

use shoal_commands::Command;

use crate::client::{Client, ClientInfo};
use crate::server::Server;
use crate::state::acl::{Denied, User};
use crate::state::pubsub::Kind;
use crate::state::users::{LogEntry, UserCell};

/// Where a refused command was: ACL LOG's `context`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    TopLevel,
    Multi,
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::TopLevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// Checks a command against the client's user. The all-permissive user
/// costs one load and one branch.
#[inline]
pub fn check(client: &Client, cmd: &Command, argv: &[&[u8]]) -> Result<(), Denied> {
    match &client.user {
        Some(user) if !user.open() => user.rules().check(cmd, argv),
        _ => Ok(()),
    }
}

/// Whether the client's user may run the command with read access to
/// every key (SORT's BY and GET patterns need it).
pub fn unrestricted_read(client: &Client, cmd: &Command, argv: &[&[u8]]) -> bool {
    match &client.user {
        Some(user) if !user.open() => user.rules().unrestricted(cmd, argv, crate::state::acl::READ),
        _ => true,
    }
}

/// Checks and, when refused, records the ACL LOG entry.
pub fn check_and_log(
    server: &Server,
    client: &Client,
    cmd: &Command,
    argv: &[&[u8]],
    context: Context,
) -> Result<(), Denied> {
    check(client, cmd, argv).inspect_err(|&denied| log_denied(server, client, cmd, argv, denied, context))
}

/// The ACL LOG entry of a refused command.
pub fn log_denied(server: &Server, client: &Client, cmd: &Command, argv: &[&[u8]], denied: Denied, context: Context) {
    let object = match denied {
        Denied::Command => cmd.name.as_bytes().to_vec(),
        Denied::Key(i) | Denied::Channel(i) => argv[i].to_vec(),
    };
    log(server, &client.info, user_name(client), denied.reason(), context, object);
}

fn user_name(client: &Client) -> Vec<u8> {
    client.user.as_ref().map_or_else(|| b"default".to_vec(), |u| u.name.clone())
}

/// Adds an ACL LOG entry.
pub fn log(
    server: &Server,
    info: &ClientInfo,
    username: Vec<u8>,
    reason: &'static str,
    context: Context,
    object: Vec<u8>,
) {
    let entry = LogEntry {
        count: 1,
        reason,
        context: context.name(),
        object,
        username,
        ctime_ms: shoal_engine::now_ms(),
        client_info: crate::client::client_line(info),
    };
    let max_len = server.config.get_int("acllog-max-len").max(0) as usize;
    server.acl.log(entry, max_len);
}

/// A failed AUTH or HELLO AUTH: logged with the user name tried.
pub fn log_failed_auth(server: &Server, client: &Client, username: &[u8], command: &[u8]) {
    let context = if client.in_multi() { Context::Multi } else { Context::TopLevel };
    log(server, &client.info, username.to_vec(), "auth", context, command.to_vec());
}

/// Logs the client in as `name` if the password fits (and the user is on).
pub fn authenticate(server: &Server, client: &mut Client, name: &[u8], password: &[u8], command: &[u8]) -> bool {
    let user = server.acl.get(name).filter(|u| u.rules().accepts(password));
    match user {
        Some(user) => {
            *client.info.user.lock() = user.name_lossy();
            client.user = Some(user);
            client.authenticated = true;
            true
        }
        None => {
            log_failed_auth(server, client, name, command);
            false
        }
    }
}

/// Closes the connections of users that were deleted (or replaced by an
/// ACL LOAD); the calling client, if among them, after its reply.
pub fn disconnect_users(server: &Server, client: &mut Client, gone: &[Arc<UserCell>]) {
    if gone.is_empty() {
        return;
    }
    let me = client.id();
    if client.user.as_ref().is_some_and(|u| gone.iter().any(|g| Arc::ptr_eq(g, u))) {
        client.user = Some(server.acl.default_user());
        client.authenticated = false;
        client.close_after_reply = true;
    }
    let names: Vec<String> = gone.iter().map(|u| u.name_lossy()).collect();
    for info in server.clients.all() {
        if info.id != me && names.iter().any(|n| *info.user.lock() == *n) {
            server.clients.kill(info.id);
        }
    }
}

/// After ACL SETUSER: subscribers of the user whose channels the new
/// rules no longer allow are disconnected, as in Redis.
pub fn recheck_subscribers(server: &Server, client: &mut Client, old: &User, new: &User) {
    if old.channels_kept_by(new) {
        return;
    }
    let name = String::from_utf8_lossy(&new.name).into_owned();
    let rules = new.channel_rules();
    let mut doomed = Vec::new();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let index = server.pubsub.index(kind).read();
        for (channel, listeners) in index.iter() {
            let allowed = crate::state::acl::channel_allowed(&rules, channel, kind == Kind::Pattern);
            if allowed {
                continue;
            }
            doomed.extend(listeners.iter().filter(|l| *l.user.lock() == name).map(|l| l.id));
        }
    }
    doomed.sort_unstable();
    doomed.dedup();
    for id in doomed {
        if id == client.id() {
            client.close_after_reply = true;
        } else {
            server.clients.kill(id);
        }
    }
}

/// Parses ACL file text into users: every line `user <name> <rules...>`
/// (blank lines skipped). Errors are collected as Redis words them and
/// nothing is returned if there is one.
pub fn parse_file(server: &Server, path: &str, text: &str) -> Result<Vec<User>, String> {
    let ctx = server.acl.context();
    let mut users: Vec<User> = Vec::new();
    let mut errors = String::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_number = n + 1;
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            continue;
        }
        if words[0] != "user" || words.len() < 2 {
            errors.push_str(&format!("{path}:{line_number} should start with user keyword followed by the username. "));
            continue;
        }
        let name = words[1].as_bytes();
        if !crate::state::acl::valid_name(name) {
            errors.push_str(&format!("'{path}:{line_number}: username '{}' contains invalid characters. ", words[1]));
            continue;
        }
        if users.iter().any(|u| u.name == name) {
            errors.push_str(&format!("WARNING: Duplicate user '{}' found on line {line_number}. ", words[1]));
            continue;
        }
        let rules: Vec<&[u8]> = words[2..].iter().map(|w| w.as_bytes()).collect();
        let Ok(merged) = crate::state::acl::merge_selectors(&rules) else {
            errors.push_str(&format!("{path}:{line_number}: Unmatched parenthesis in selector definition."));
            continue;
        };
        let mut user = User::new(name, &ctx);
        let mut syntax_error = false;
        for rule in &merged {
            let rule = trim_bytes(rule);
            if let Err(e) = user.apply(rule, &ctx) {
                if e == crate::state::acl::RuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{path}:{line_number}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(rule),
                        e.message()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{path}:{line_number}: {}. ", e.message()));
                    syntax_error = true;
                }
            }
        }
        users.push(user);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        Err(errors)
    }
}

/// An I/O error as strerror words it (without Rust's "(os error N)").
fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn trim_bytes(rule: &[u8]) -> &[u8] {
    let start = rule.iter().position(|b| !matches!(b, b'\t' | b'\r' | b'\n')).unwrap_or(rule.len());
    let end = rule.iter().rposition(|b| !matches!(b, b'\t' | b'\r' | b'\n')).map_or(start, |e| e + 1);
    &rule[start..end]
}

/// ACL LOAD: replaces the users with the file's (nothing changes on an
/// error); connections of users that were replaced close.
pub fn load_file(server: &Server, client: Option<&mut Client>, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {}", os_error_text(&e)))?;
    let users = parse_file(server, path, &text)?;
    let gone = server.acl.replace_all(users);
    match client {
        Some(client) => disconnect_users(server, client, &gone),
        None => {
            let mut nobody = Client::loader(0);
            disconnect_users(server, &mut nobody, &gone);
        }
    }
    Ok(())
}

/// The `user` lines CONFIG REWRITE writes: every user, unless an ACL
/// file holds them (then the file's `user` lines are dropped).
pub fn config_user_lines(server: &Server) -> Option<Vec<String>> {
    server.config.get_string("aclfile").is_empty().then(|| server.acl.lines())
}

/// ACL SAVE: writes a temporary file and renames it over the ACL file.
pub fn save_file(server: &Server, path: &str) -> Result<(), String> {
    let mut text = server.acl.lines().join("\n");
    text.push('\n');
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), shoal_engine::now_ms());
    let result = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        server.log.warning(&format!("Writing ACL file for ACL SAVE: {e}"));
        return Err(e.to_string());
    }
    Ok(())
}

/// At start-up: the `user` directives, or the `aclfile` (not both).
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let aclfile = server.config.get_string("aclfile");
    let lines = server.config.users();
    if !aclfile.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".to_string());
    }
    if !lines.is_empty() {
        let users = server.acl.from_directives(lines)?;
        server.acl.replace_all(users);
    }
    if !aclfile.is_empty() {
        load_file(server, None, &aclfile).map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(())
}
