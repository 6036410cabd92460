//! The Lua debugger (Redis's LDB) in its synchronous mode: after SCRIPT
//! DEBUG SYNC, a client's next EVAL (or EVAL_RO) runs as a debugging
//! session (EVALSHA is refused meanwhile, as in Redis). The script stops at its first line; the client then sends
//! debugger commands (`step`, `continue`, `list`, `print`, `break`,
//! `eval`, `redis`, ...) as RESP arrays and gets each answer as an array
//! of status lines; when the script ends the client gets an
//! `<endsession>` line, the script's reply, and the connection closes.
//!
//! A session runs on the script thread (the connection's requests cross
//! there, see `crate::offload`), holding every shard like any script:
//! other clients get `-BUSY` past busy-reply-threshold, and the script
//! thread may wait for the debugging client as long as it likes, since
//! no worker waits for it. The session talks to the client directly on
//! the connection's socket (a duplicate of it, which the connection does
//! not read meanwhile), as Redis does.
//!
//! The state is this thread's (`SESSION`); the VM's hook (`vm.rs`) calls
//! `hook` on every line of the script while a session is active, and
//! `redis.call`, `redis.breakpoint` and `redis.debug` log through `log`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;
use shoal_resp::inline::quote;

use super::lua::push_bytes;

/// Breakpoints a session may have at once (as Redis).
const MAX_BREAKPOINTS: usize = 64;
/// Replies and values longer than this are trimmed by default (`maxlen`).
const DEFAULT_MAX_LEN: usize = 256;
/// A value nested deeper than this is not shown.
const MAX_VALUE_DEPTH: usize = 10;
/// The most a client may send without completing a command.
const MAX_COMMAND_BUFFER: usize = 1 << 20;
/// How long a wait for the client lasts before the session looks whether
/// it was interrupted (SHUTDOWN NOSAVE, the client killed).
const POLL_MS: c_int = 100;
/// A client that reads nothing for this long is treated as gone.
const WRITE_TIMEOUT_MS: u64 = 5_000;

/// One debugging session.
pub struct Session {
    /// The connection's socket (a duplicate, closed when the session ends).
    fd: c_int,
    /// The script's source, by line.
    source: Vec<Vec<u8>>,
    /// Output waiting for the next send.
    logs: Vec<Vec<u8>>,
    breakpoints: Vec<i32>,
    /// Stop at the next line whatever the breakpoints.
    step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    lua_breakpoint: bool,
    current_line: i32,
    /// What the client sent that is not a whole command yet.
    input: Vec<u8>,
    /// 0: unlimited.
    max_len: usize,
    max_len_hint_sent: bool,
    /// The client went away: the script runs on without stopping.
    gone: bool,
    /// When the script last resumed (the count hook's timeout).
    resumed: std::time::Instant,
    /// The stop timeout (busy-reply-threshold, or 5 s if that is 0).
    timeout: std::time::Duration,
    /// Whether the client was killed (CLIENT KILL, shutdown).
    killed: Box<dyn Fn() -> bool>,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    SESSION.with(|s| s.borrow_mut().as_mut().map(f))
}

/// Starts a session for a script with source `body`, talking on `fd`.
/// False if the socket cannot be duplicated (the script then runs
/// without the debugger).
pub fn start(fd: c_int, body: &[u8], timeout: std::time::Duration, killed: Box<dyn Fn() -> bool>) -> bool {
    // SAFETY: dup of a descriptor the connection owns and keeps open
    // while the session runs (its task waits for the script).
    let fd = unsafe { libc::dup(fd) };
    if fd < 0 {
        return false;
    }
    let mut body = body;
    while let Some((&last, rest)) = body.split_last() {
        if last != b'\n' && last != b'\r' {
            break;
        }
        body = rest;
    }
    let source = body.split(|&b| b == b'\n').map(|l| l.to_vec()).collect();
    let session = Session {
        fd,
        source,
        logs: Vec::new(),
        breakpoints: Vec::new(),
        step: true,
        lua_breakpoint: false,
        current_line: 0,
        input: Vec::new(),
        max_len: DEFAULT_MAX_LEN,
        max_len_hint_sent: false,
        gone: false,
        resumed: std::time::Instant::now(),
        timeout,
        killed,
    };
    SESSION.with(|s| *s.borrow_mut() = Some(session));
    true
}

/// Ends the session: its last output and the `<endsession>` mark go to
/// the client (the script's reply follows, then the connection closes).
pub fn end() {
    let Some(mut session) = SESSION.with(|s| s.borrow_mut().take()) else { return };
    session.logs.push(b"<endsession>".to_vec());
    session.send_logs();
    unsafe { libc::close(session.fd) };
}

/// Whether a session is active on this thread.
pub fn active() -> bool {
    SESSION.with(|s| s.borrow().is_some())
}

/// Whether commands the script calls are logged: a session is active and
/// the script runs a step (or a debugger `redis` command).
pub fn logging() -> bool {
    with(|s| s.step).unwrap_or(false)
}

/// Adds a line of output.
pub fn log(line: Vec<u8>) {
    with(|s| s.logs.push(line));
}

/// `<redis> arg ...` for a command the script calls (ten arguments at most).
pub fn log_command(argv: &[&[u8]]) {
    with(|s| {
        let mut line = b"<redis>".to_vec();
        for (i, arg) in argv.iter().enumerate() {
            if i == 10 {
                line.extend_from_slice(format!(" ... ({} more)", argv.len() - i - 1).as_bytes());
                break;
            }
            line.push(b' ');
            line.extend_from_slice(arg);
        }
        s.logs.push(line);
    });
}

/// `<error> message` for an error a command the script called got.
pub fn log_error(message: &[u8]) {
    let message = message.strip_prefix(b"ERR ").unwrap_or(message);
    let mut line = b"<error> ".to_vec();
    line.extend_from_slice(message);
    log(line);
}

/// `<reply> ...`: a command's reply (RESP bytes) in readable form.
pub fn log_reply(reply: &[u8]) {
    with(|s| {
        let mut line = b"<reply> ".to_vec();
        let mut position = 0;
        reply_to_human(&mut line, reply, &mut position);
        s.log_trimmed(line);
    });
}

/// `redis.breakpoint()`: stop at the next line if a session is active.
pub fn breakpoint() -> bool {
    with(|s| s.lua_breakpoint = true).is_some()
}

/// `redis.debug(...)`: the values at `1..=argc` as a line of output.
pub unsafe fn debug(state: *mut lua_State, argc: c_int) {
    let Some(line) = with(|s| s.current_line) else { return };
    let mut text = format!("<debug> line {line}: ").into_bytes();
    for i in 1..=argc {
        value_to_human(&mut text, state, i, 0);
        if i != argc {
            text.extend_from_slice(b", ");
        }
    }
    log(text);
}

impl Session {
    fn log_trimmed(&mut self, mut line: Vec<u8>) {
        let trimmed = self.max_len != 0 && line.len() > self.max_len;
        if trimmed {
            line.truncate(self.max_len);
            line.extend_from_slice(b" ...");
        }
        self.logs.push(line);
        if trimmed && !self.max_len_hint_sent {
            self.max_len_hint_sent = true;
            self.logs.push(b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec());
        }
    }

    /// Sends the output gathered as an array of status lines.
    fn send_logs(&mut self) {
        let mut proto = format!("*{}\r\n", self.logs.len()).into_bytes();
        for line in self.logs.drain(..) {
            proto.push(b'+');
            proto.extend(line.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
            proto.extend_from_slice(b"\r\n");
        }
        if !self.gone && !write_all(self.fd, &proto) {
            self.gone = true;
        }
    }

    fn source_line(&self, line: i32) -> &[u8] {
        match usize::try_from(line - 1).ok().and_then(|i| self.source.get(i)) {
            Some(text) => text,
            None => b"<out of range source code line>",
        }
    }

    fn log_source_line(&mut self, line: i32) {
        let prefix = match (line == self.current_line, self.breakpoints.contains(&line)) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut text = format!("{prefix}{line:<3} ").into_bytes();
        text.extend_from_slice(self.source_line(line));
        self.logs.push(text);
    }

    /// The source around `around` (`context` lines each side), or all of
    /// it for 0.
    fn list(&mut self, around: i32, context: i32) {
        for line in 1..=self.source.len() as i32 {
            if around != 0 && (around - line).abs() > context {
                continue;
            }
            self.log_source_line(line);
        }
    }

    fn break_command(&mut self, args: &[Vec<u8>]) {
        if args.is_empty() {
            if self.breakpoints.is_empty() {
                self.logs.push(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
            } else {
                self.logs.push(format!("{} breakpoints set:", self.breakpoints.len()).into_bytes());
                for line in self.breakpoints.clone() {
                    self.log_source_line(line);
                }
            }
            return;
        }
        for arg in args {
            let Some(line) = std::str::from_utf8(arg).ok().and_then(strict_i64) else {
                let mut text = b"Invalid argument:'".to_vec();
                text.extend_from_slice(arg);
                text.push(b'\'');
                self.logs.push(text);
                continue;
            };
            if line == 0 {
                self.breakpoints.clear();
                self.logs.push(b"All breakpoints removed.".to_vec());
            } else if line > 0 {
                if self.breakpoints.len() == MAX_BREAKPOINTS {
                    self.logs.push(b"Too many breakpoints set.".to_vec());
                } else if line <= self.source.len() as i64 && !self.breakpoints.contains(&(line as i32)) {
                    self.breakpoints.push(line as i32);
                    self.list(line as i32, 1);
                } else {
                    self.logs.push(b"Wrong line number.".to_vec());
                }
            } else {
                let line = line.unsigned_abs().min(i32::MAX as u64) as i32;
                match self.breakpoints.iter().position(|&b| b == line) {
                    Some(at) => {
                        self.breakpoints.remove(at);
                        self.logs.push(b"Breakpoint removed.".to_vec());
                    }
                    None => self.logs.push(b"No breakpoint in the specified line.".to_vec()),
                }
            }
        }
    }

    fn max_len_command(&mut self, args: &[Vec<u8>]) {
        if let Some(arg) = args.first() {
            let value = leading_int(arg);
            self.max_len_hint_sent = true;
            self.max_len = match value {
                0 => 0,
                v if v <= 60 => 60,
                v => v as usize,
            };
        }
        let text = match self.max_len {
            0 => "<value> replies are unlimited.".to_string(),
            n => format!("<value> replies are truncated at {n} bytes."),
        };
        self.logs.push(text.into_bytes());
    }
}

/// An integer written exactly (no sign `+`, no spaces, no leading zeros).
fn strict_i64(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The integer a text starts with (as C's `atoi`: 0 if none).
fn leading_int(text: &[u8]) -> i64 {
    let text = std::str::from_utf8(text).unwrap_or("");
    let text = text.trim_start();
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().map(|n| sign * n).unwrap_or(0).clamp(i32::MIN as i64, i32::MAX as i64)
}

/// Writes all of `bytes` to the (non-blocking) socket; false if the
/// client is gone or reads nothing for `WRITE_TIMEOUT_MS`.
fn write_all(fd: c_int, mut bytes: &[u8]) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(WRITE_TIMEOUT_MS);
    while !bytes.is_empty() {
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        if n > 0 {
            bytes = &bytes[n as usize..];
            continue;
        }
        let error = std::io::Error::last_os_error();
        if n < 0 && error.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n < 0 && error.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline {
            let mut poll = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
            unsafe { libc::poll(&mut poll, 1, POLL_MS) };
            continue;
        }
        return false;
    }
    true
}

// ---------------------------------------------------------------------
// Values and replies in readable form.

/// A number as C's `%g` writes it.
fn format_g(value: f64) -> String {
    let mut buf = [0 as c_char; 64];
    unsafe { libc::snprintf(buf.as_mut_ptr(), buf.len(), c"%g".as_ptr(), value) };
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// The Lua value at `index` in readable form: strings quoted, tables as
/// `{a; b}` (arrays) or `{[k]=v; ...}`, functions and such by address.
unsafe fn value_to_human(out: &mut Vec<u8>, state: *mut lua_State, index: c_int, depth: usize) {
    if depth == MAX_VALUE_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    let index = if index < 0 && index > lua::LUA_REGISTRYINDEX { lua::lua_gettop(state) + index + 1 } else { index };
    match lua::lua_type(state, index) {
        lua::LUA_TSTRING => {
            let mut len = 0usize;
            let p = lua::lua_tolstring(state, index, &mut len);
            quote(out, std::slice::from_raw_parts(p as *const u8, len));
        }
        lua::LUA_TBOOLEAN => out.extend_from_slice(if lua::lua_toboolean(state, index) != 0 { b"true" } else { b"false" }),
        lua::LUA_TNUMBER => out.extend_from_slice(format_g(lua::lua_tonumber(state, index)).as_bytes()),
        lua::LUA_TNIL => out.extend_from_slice(b"nil"),
        lua::LUA_TTABLE => {
            if lua::lua_checkstack(state, 3) == 0 {
                out.extend_from_slice(b"<max recursion level reached! Nested table?>");
                return;
            }
            let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
            let mut is_array = true;
            let mut expected = 1.0;
            lua::lua_pushnil(state);
            while lua::lua_next(state, index) != 0 {
                if is_array && (lua::lua_type(state, -2) != lua::LUA_TNUMBER || lua::lua_tonumber(state, -2) != expected) {
                    is_array = false;
                }
                value_to_human(&mut as_array, state, -1, depth + 1);
                as_array.extend_from_slice(b"; ");
                as_map.push(b'[');
                value_to_human(&mut as_map, state, -2, depth + 1);
                as_map.extend_from_slice(b"]=");
                value_to_human(&mut as_map, state, -1, depth + 1);
                as_map.extend_from_slice(b"; ");
                lua::lua_pop(state, 1);
                expected += 1.0;
            }
            let mut chosen = if is_array { as_array } else { as_map };
            chosen.truncate(chosen.len().saturating_sub(2));
            out.push(b'{');
            out.extend_from_slice(&chosen);
            out.push(b'}');
        }
        kind => {
            let name = match kind {
                lua::LUA_TFUNCTION => "function",
                lua::LUA_TUSERDATA => "userdata",
                lua::LUA_TTHREAD => "thread",
                lua::LUA_TLIGHTUSERDATA => "light-userdata",
                _ => {
                    out.extend_from_slice(b"\"<unknown-lua-type>\"");
                    return;
                }
            };
            let pointer = lua::lua_topointer(state, index);
            out.extend_from_slice(format!("\"{name}@{pointer:p}\"").as_bytes());
        }
    }
}

/// One reply (RESP2 or RESP3) at `reply[*position..]` in readable form;
/// `*position` moves past it.
fn reply_to_human(out: &mut Vec<u8>, reply: &[u8], position: &mut usize) {
    let Some(&kind) = reply.get(*position) else { return };
    let rest = &reply[*position..];
    let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap_or(rest.len());
    let line = &rest[1..line_end.max(1)];
    let next = *position + line_end + 2;
    let count = || std::str::from_utf8(line).ok().and_then(|l| l.parse::<i64>().ok()).unwrap_or(-1);
    match kind {
        b':' => {
            out.extend_from_slice(line);
            *position = next;
        }
        b'$' => {
            let len = count();
            if len < 0 {
                out.extend_from_slice(b"NULL");
                *position = next;
            } else {
                let end = (next + len as usize).min(reply.len());
                quote(out, &reply[next.min(end)..end]);
                *position = end + 2;
            }
        }
        b'+' | b'-' => {
            quote(out, &rest[..line_end]);
            *position = next;
        }
        b'*' | b'~' | b'%' => {
            *position = next;
            let len = count();
            if kind == b'*' && len < 0 {
                out.extend_from_slice(b"NULL");
                return;
            }
            let (open, close) = match kind {
                b'*' => (&b"["[..], b"]"),
                b'~' => (&b"~("[..], b")"),
                _ => (&b"{"[..], b"}"),
            };
            out.extend_from_slice(open);
            for i in 0..len.max(0) {
                reply_to_human(out, reply, position);
                if kind == b'%' {
                    out.extend_from_slice(b" => ");
                    reply_to_human(out, reply, position);
                }
                if i != len - 1 {
                    out.push(b',');
                }
            }
            out.extend_from_slice(close);
        }
        b'_' => {
            out.extend_from_slice(b"(null)");
            *position = next;
        }
        b'#' => {
            out.extend_from_slice(if line == b"t" { b"#true" } else { b"#false" });
            *position = next;
        }
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(line);
            *position = next;
        }
        // Other RESP3 types are not shown (as in Redis): the rest is skipped.
        _ => *position = reply.len(),
    }
}

// ---------------------------------------------------------------------
// Stopping and the command loop.

/// From the VM's hook, at each new line and every count of instructions:
/// stops if the session steps, a breakpoint is on this line, the script
/// called `redis.breakpoint()`, or it ran past the timeout. An error
/// message means the script must end with it (`abort`, a protocol error,
/// an interruption); the caller raises it.
pub unsafe fn hook(state: *mut lua_State, ar: *mut lua::lua_Debug) -> Option<Vec<u8>> {
    lua::lua_getstack(state, 0, ar);
    lua::lua_getinfo(state, c"Sl".as_ptr(), ar);
    let line = (*ar).currentline;
    let is_count = (*ar).event == lua::LUA_HOOKCOUNT;
    let in_script = CStr::from_ptr((*ar).short_src.as_ptr()).to_bytes().windows(11).any(|w| w == b"user_script");
    let stop = with(|s| {
        s.current_line = line;
        if !in_script {
            return None;
        }
        let at_breakpoint = s.breakpoints.contains(&line) || s.lua_breakpoint;
        let mut timed_out = false;
        if is_count && !s.step && !at_breakpoint {
            if s.resumed.elapsed() < s.timeout {
                return None;
            }
            timed_out = true;
        }
        if !(s.step || at_breakpoint || timed_out) {
            return None;
        }
        let reason = if at_breakpoint {
            if s.lua_breakpoint { "redis.breakpoint() called" } else { "break point" }
        } else if timed_out {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        s.step = false;
        s.lua_breakpoint = false;
        s.logs.push(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
        s.log_source_line(line);
        s.send_logs();
        Some(timed_out)
    })??;
    let outcome = repl(state);
    with(|s| s.resumed = std::time::Instant::now());
    match outcome {
        Repl::Resume => None,
        Repl::Gone if stop => Some(b"ERR timeout during Lua debugging with client closing connection".to_vec()),
        Repl::Gone => None,
        Repl::Fail(message) => Some(message),
    }
}

enum Repl {
    /// The script runs on.
    Resume,
    /// The client went away: the script runs on without stopping.
    Gone,
    /// The script must end with this error.
    Fail(Vec<u8>),
}

/// What waiting for the next command found.
enum Next {
    Command(Vec<Vec<u8>>),
    Gone,
    Fail(Vec<u8>),
}

/// Parses a command at the start of `input`: `Ok(None)` if more must be
/// read, `Err` for a protocol error. Commands are small (arguments of 1
/// to 1024 bytes, up to 1024 of them).
fn parse_command(input: &[u8]) -> Result<Option<(Vec<Vec<u8>>, usize)>, ()> {
    if input.is_empty() {
        return Ok(None);
    }
    let Some(star) = input.iter().position(|&b| b == b'*') else { return Err(()) };
    let find_crlf = |from: usize| input[from..].windows(2).position(|w| w == b"\r\n").map(|p| from + p);
    let Some(end) = find_crlf(star) else { return Ok(None) };
    let count = leading_int(&input[star + 1..end]);
    if count <= 0 || count > 1024 {
        return Err(());
    }
    let mut at = end + 2;
    let mut args = Vec::with_capacity(count as usize);
    while args.len() < count as usize {
        if at >= input.len() {
            return Ok(None);
        }
        if input[at] != b'$' {
            return Err(());
        }
        let Some(end) = find_crlf(at) else { return Ok(None) };
        let len = leading_int(&input[at + 1..end]);
        if len <= 0 || len > 1024 {
            return Err(());
        }
        let start = end + 2;
        let stop = start + len as usize;
        if stop + 2 > input.len() {
            return Ok(None);
        }
        if &input[stop..stop + 2] != b"\r\n" {
            return Err(());
        }
        args.push(input[start..stop].to_vec());
        at = stop + 2;
    }
    Ok(Some((args, at)))
}

/// Waits for the client's next command.
fn next_command() -> Next {
    loop {
        let parsed = with(|s| {
            let parsed = parse_command(&s.input);
            match &parsed {
                Ok(Some((_, used))) => drop(s.input.drain(..*used)),
                Err(()) => s.input.clear(),
                Ok(None) => {}
            }
            (parsed.map(|p| p.map(|(args, _)| args)), s.gone || (s.killed)())
        });
        let Some((parsed, gone)) = parsed else { return Next::Gone };
        match parsed {
            Ok(Some(args)) => return Next::Command(args),
            Err(()) => return Next::Fail(b"ERR protocol error".to_vec()),
            Ok(None) => {}
        }
        if gone {
            with(|s| s.gone = true);
            return Next::Gone;
        }
        if let Some(message) = super::interruption() {
            return Next::Fail(message.as_bytes().to_vec());
        }
        let Some(fd) = with(|s| s.fd) else { return Next::Gone };
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        if unsafe { libc::poll(&mut poll, 1, POLL_MS) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let kind = std::io::Error::last_os_error().kind();
            if matches!(kind, std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) {
                continue;
            }
        }
        if n <= 0 {
            with(|s| s.gone = true);
            return Next::Gone;
        }
        let too_long = with(|s| {
            s.input.extend_from_slice(&buf[..n as usize]);
            let too_long = s.input.len() > MAX_COMMAND_BUFFER;
            if too_long {
                s.input.clear();
            }
            too_long
        });
        if too_long == Some(true) {
            return Next::Fail(b"ERR max client buffer reached".to_vec());
        }
    }
}

fn is(name: &[u8], short: &str, long: &str) -> bool {
    name.eq_ignore_ascii_case(short.as_bytes()) || name.eq_ignore_ascii_case(long.as_bytes())
}

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// Serves the client's commands while the script is stopped, until one
/// resumes it.
unsafe fn repl(state: *mut lua_State) -> Repl {
    loop {
        let argv = match next_command() {
            Next::Command(argv) => argv,
            Next::Gone => {
                with(|s| {
                    s.step = false;
                    s.breakpoints.clear();
                });
                return Repl::Gone;
            }
            Next::Fail(message) => return Repl::Fail(message),
        };
        let (name, args) = argv.split_first().expect("a command has a name");
        if is(name, "h", "help") {
            with(|s| s.logs.extend(HELP.iter().map(|l| l.as_bytes().to_vec())));
        } else if is(name, "s", "step") || is(name, "n", "next") {
            with(|s| s.step = true);
            return Repl::Resume;
        } else if is(name, "c", "continue") {
            return Repl::Resume;
        } else if is(name, "t", "trace") {
            trace(state);
        } else if is(name, "m", "maxlen") {
            with(|s| s.max_len_command(args));
        } else if is(name, "b", "break") {
            with(|s| s.break_command(args));
        } else if is(name, "e", "eval") {
            eval(state, args);
        } else if is(name, "a", "abort") {
            return Repl::Fail(b"ERR script aborted for user request".to_vec());
        } else if is(name, "r", "redis") && !args.is_empty() {
            redis_command(state, args);
        } else if is(name, "p", "print") {
            match args {
                [var] => print(state, var),
                _ => print_all(state),
            }
        } else if is(name, "l", "list") {
            let current = with(|s| s.current_line).unwrap_or(0);
            let mut around = current;
            if let Some(arg) = args.first() {
                let n = leading_int(arg) as i32;
                if n > 0 {
                    around = n;
                }
            }
            let context = args.get(1).map_or(5, |a| leading_int(a) as i32);
            with(|s| s.list(around, context));
        } else if is(name, "w", "whole") {
            with(|s| s.list(1, 1_000_000));
        } else {
            log(b"<error> Unknown Redis Lua debugger command or wrong number of arguments.".to_vec());
        }
        with(|s| s.send_logs());
    }
}

/// Logs the value on top of the stack after `prefix` (trimmed to maxlen).
unsafe fn log_top(state: *mut lua_State, prefix: &[u8]) {
    let mut line = prefix.to_vec();
    value_to_human(&mut line, state, -1, 0);
    with(|s| s.log_trimmed(line));
}

fn local_name(name: *const c_char) -> &'static [u8] {
    unsafe { CStr::from_ptr(name) }.to_bytes()
}

/// Visits the locals of the frame `ar` in order, each on top of the stack
/// while `visit` runs (popped after it); `visit` returns true to stop.
/// True when it stopped.
unsafe fn visit_locals(state: *mut lua_State, ar: &lua::lua_Debug, mut visit: impl FnMut(&[u8]) -> bool) -> bool {
    let mut i = 1;
    loop {
        let name = lua::lua_getlocal(state, ar, i);
        if name.is_null() {
            return false;
        }
        i += 1;
        let stop = visit(local_name(name));
        lua::lua_pop(state, 1);
        if stop {
            return true;
        }
    }
}

/// `print <var>`: the innermost local of that name, else KEYS or ARGV.
unsafe fn print(state: *mut lua_State, var: &[u8]) {
    let mut ar: lua::lua_Debug = std::mem::zeroed();
    let mut level = 0;
    while lua::lua_getstack(state, level, &mut ar) != 0 {
        level += 1;
        let found = visit_locals(state, &ar, |name| {
            let found = name == var;
            if found {
                log_top(state, b"<value> ");
            }
            found
        });
        if found {
            return;
        }
    }
    if var == b"KEYS" || var == b"ARGV" {
        push_bytes(state, var);
        lua::lua_rawget_(state, lua::LUA_GLOBALSINDEX);
        log_top(state, b"<value> ");
        lua::lua_pop(state, 1);
    } else {
        log(b"No such variable.".to_vec());
    }
}

/// `print`: every local of the current function.
unsafe fn print_all(state: *mut lua_State) {
    let mut ar: lua::lua_Debug = std::mem::zeroed();
    let mut shown = 0;
    if lua::lua_getstack(state, 0, &mut ar) != 0 {
        visit_locals(state, &ar, |name| {
            if !name.windows(12).any(|w| w == b"(*temporary)") {
                let mut prefix = b"<value> ".to_vec();
                prefix.extend_from_slice(name);
                prefix.extend_from_slice(b" = ");
                log_top(state, &prefix);
                shown += 1;
            }
            false
        });
    }
    if shown == 0 {
        log(b"No local variables in the current context.".to_vec());
    }
}

/// `trace`: the script's frames, innermost first.
unsafe fn trace(state: *mut lua_State) {
    let mut ar: lua::lua_Debug = std::mem::zeroed();
    let mut level = 0;
    while lua::lua_getstack(state, level, &mut ar) != 0 {
        lua::lua_getinfo(state, c"Snl".as_ptr(), &mut ar);
        let source = CStr::from_ptr(ar.short_src.as_ptr()).to_bytes();
        if source.windows(11).any(|w| w == b"user_script") {
            let name = if ar.name.is_null() { "top level".to_string() } else { String::from_utf8_lossy(local_name(ar.name)).into_owned() };
            let line = ar.currentline;
            with(|s| {
                s.logs.push(format!("{} {name}:", if level == 0 { "In" } else { "From" }).into_bytes());
                s.log_source_line(line);
            });
        }
        level += 1;
    }
    if level == 0 {
        log(b"<error> Can't retrieve Lua stack.".to_vec());
    }
}

/// The message of the error value on top of the stack.
unsafe fn error_text(state: *mut lua_State) -> Vec<u8> {
    if lua::lua_type(state, -1) == lua::LUA_TTABLE {
        push_bytes(state, b"err");
        lua::lua_rawget_(state, -2);
        let text = super::lua::to_bytes(state, -1);
        lua::lua_pop(state, 1);
        if let Some(text) = text {
            return text;
        }
    }
    match lua::lua_type(state, -1) {
        lua::LUA_TSTRING | lua::LUA_TNUMBER => super::lua::to_bytes(state, -1).unwrap_or_default(),
        _ => b"(error object is not a string)".to_vec(),
    }
}

/// `eval <code>`: runs the code (as an expression if it is one) in a
/// frame of its own and shows what it returned.
unsafe fn eval(state: *mut lua_State, args: &[Vec<u8>]) {
    let code = args.join(&b' ');
    let mut expression = b"return ".to_vec();
    expression.extend_from_slice(&code);
    let name = c"@ldb_eval".as_ptr();
    if lua::luaL_loadbuffer(state, expression.as_ptr().cast(), expression.len(), name) != 0 {
        lua::lua_pop(state, 1);
        if lua::luaL_loadbuffer(state, code.as_ptr().cast(), code.len(), name) != 0 {
            let mut line = b"<error> ".to_vec();
            line.extend_from_slice(&error_text(state));
            lua::lua_pop(state, 1);
            log(line);
            return;
        }
    }
    if lua::lua_pcall(state, 0, 1, 0) != 0 {
        let mut line = b"<error> ".to_vec();
        line.extend_from_slice(&error_text(state));
        lua::lua_pop(state, 1);
        log(line);
        return;
    }
    log_top(state, b"<retval> ");
    lua::lua_pop(state, 1);
}

/// `redis <cmd> ...`: runs the command through `redis.call`, which logs
/// it and its reply.
unsafe fn redis_command(state: *mut lua_State, args: &[Vec<u8>]) {
    if lua::lua_checkstack(state, args.len() as c_int + 2) == 0 {
        with(|s| s.log_trimmed(b"<reply> max lua stack reached".to_vec()));
        return;
    }
    push_bytes(state, b"redis");
    lua::lua_rawget_(state, lua::LUA_GLOBALSINDEX);
    push_bytes(state, b"call");
    lua::lua_rawget_(state, -2);
    for arg in args {
        push_bytes(state, arg);
    }
    with(|s| s.step = true);
    lua::lua_pcall(state, args.len() as c_int, 1, 0);
    with(|s| s.step = false);
    lua::lua_pop(state, 2);
}
