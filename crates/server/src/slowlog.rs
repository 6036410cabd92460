//! Recording slow commands (SLOWLOG's commands are in
//! `families::slowlog`), and which arguments are secrets (also for
//! MONITOR).

use std::sync::atomic::Ordering;

use crate::client::Client;
use crate::server::Server;
use crate::state::slowlog::{Entry, MAX_ARGS, MAX_ARG_BYTES, REDACTED};

/// Logs a command that ran for `nanos` if it was slow enough.
pub fn record(server: &Server, client: &Client, argv: &[&[u8]], nanos: u64) {
    let threshold = server.tunables.slowlog_slower_than.load(Ordering::Relaxed);
    if threshold < 0 || nanos / 1000 < threshold as u64 {
        return;
    }
    let max_len = server.config.get_int("slowlog-max-len").max(0) as usize;
    let entry = Entry {
        id: server.slowlog.next_id.fetch_add(1, Ordering::Relaxed),
        unix_secs: shoal_engine::now_ms() / 1000,
        micros: nanos / 1000,
        argv: logged_args(argv),
        peer: client.info.addr.clone(),
        name: client.info.name_string(),
    };
    let mut entries = server.slowlog.entries.lock();
    entries.push_front(entry);
    entries.truncate(max_len);
}

/// The arguments as logged: secrets redacted, then trimmed.
fn logged_args(argv: &[&[u8]]) -> Vec<Vec<u8>> {
    let secret = secrets(argv);
    let kept = if argv.len() > MAX_ARGS { MAX_ARGS - 1 } else { argv.len() };
    let mut out: Vec<Vec<u8>> = argv[..kept]
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            if secret[i] {
                REDACTED.to_vec()
            } else if arg.len() > MAX_ARG_BYTES {
                let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes());
                cut
            } else {
                arg.to_vec()
            }
        })
        .collect();
    if argv.len() > MAX_ARGS {
        out.push(format!("... ({} more arguments)", argv.len() - kept).into_bytes());
    }
    out
}

/// Which arguments are secrets: AUTH's arguments, ACL SETUSER's, HELLO's and MIGRATE's
/// AUTH credentials, and the value of a sensitive parameter in CONFIG SET.
pub(crate) fn secrets(argv: &[&[u8]]) -> Vec<bool> {
    let is = |i: usize, word: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    let mut secret = vec![false; argv.len()];
    if is(0, "auth") {
        secret[1..].fill(true);
    } else if is(0, "hello") {
        if let Some(at) = (2..argv.len()).find(|&i| is(i, "auth")) {
            secret[at + 1..argv.len().min(at + 3)].fill(true);
        }
    } else if is(0, "migrate") {
        // The credentials of AUTH and AUTH2, as far as the options parse.
        let mut j = 6;
        while j < argv.len() {
            let operands = usize::from(is(j, "auth")) + 2 * usize::from(is(j, "auth2"));
            let known = operands > 0 || is(j, "copy") || is(j, "replace");
            if !known || j + operands >= argv.len() {
                break;
            }
            secret[j + 1..=j + operands].fill(true);
            j += operands + 1;
        }
    } else if is(0, "acl") && is(1, "setuser") && argv.len() > 2 {
        // The user name and every rule (passwords among them).
        secret[2..].fill(true);
    } else if is(0, "config") && is(1, "set") {
        for name in (2..argv.len()).step_by(2) {
            if name + 1 < argv.len() && ["masterauth", "masteruser", "requirepass"].iter().any(|s| is(name, s)) {
                secret[name + 1] = true;
            }
        }
    }
    secret
}
