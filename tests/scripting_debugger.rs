//! The Lua debugger (SCRIPT DEBUG SYNC): sessions driven over a raw
//! socket, their transcripts compared byte for byte with redis-server
//! 7.0's, what other clients see while a session holds the keyspace, and
//! the ways a session ends (the script's end, abort, a protocol error,
//! the client leaving, SHUTDOWN NOSAVE).

mod support;

use std::time::Duration;

use support::{RawClient, ServerProcess};

fn send(client: &mut RawClient, words: &[&str]) {
    let argv: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    client.send(&argv);
}

fn raw(client: &mut RawClient, words: &[&str]) -> Vec<u8> {
    send(client, words);
    client.read_raw()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts a session with `eval_args` (after EVAL) on `server`, runs the
/// debugger commands one by one (each answered by one array), and reads
/// what the session's end sends: the `<endsession>` line, the script's
/// reply, and whether the connection then closed.
fn session(server: &ServerProcess, eval_args: &[&str], commands: &[&[&str]]) -> Vec<String> {
    let mut c = server.client();
    let mut transcript = vec![text(&raw(&mut c, &["script", "debug", "sync"]))];
    let mut eval = vec!["eval"];
    eval.extend_from_slice(eval_args);
    transcript.push(text(&raw(&mut c, &eval)));
    for command in commands {
        transcript.push(format!("{command:?} => {}", text(&raw(&mut c, command))));
    }
    while let Some(reply) = c.try_read_raw() {
        transcript.push(text(&reply));
    }
    transcript.push("<closed>".to_string());
    transcript
}

fn assert_same(redis: &[String], shoal: &[String]) {
    for (i, (r, s)) in redis.iter().zip(shoal).enumerate() {
        assert_eq!(r, s, "step {i} differs from redis-server\nredis: {redis:#?}\nshoal: {shoal:#?}");
    }
    assert_eq!(redis.len(), shoal.len(), "redis: {redis:#?}\nshoal: {shoal:#?}");
}

const SCRIPT: &str = "local a = 1
redis.debug('x', a, {1,2,{k='v'}}, nil, 1.5, 'q\"\\n\\1')
redis.call('set','k', 'v')
redis.breakpoint()
local b = redis.call('get','k')
local function f(x)
  local y = x * 2
  return y
end
local c = f(3)
redis.pcall('lpush', 'k', 'a')
return {a, b, c}
";

#[test]
fn session_transcript_matches_redis() {
    let commands: &[&[&str]] = &[
        &["h"],
        &["s"],
        &["step"],
        &["p"],
        &["p", "a"],
        &["print", "KEYS"],
        &["p", "ARGV"],
        &["p", "nosuch"],
        &["l"],
        &["list", "3", "1"],
        &["l", "0", "0"],
        &["w"],
        &["b"],
        &["b", "5"],
        &["b", "40"],
        &["b", "x"],
        &["b", "-9"],
        &["b", "7"],
        &["break"],
        &["t"],
        &["e", "1+1"],
        &["e", "a"],
        &["e", "error('x')"],
        &["e", "local", "x", "=", "1"],
        &["eval", "{1,'a',{b=2}}"],
        &["r", "get", "k"],
        &["r", "incr", "counter"],
        &["redis", "hset", "h", "f", "v"],
        &["r", "hgetall", "h"],
        &["r", "set"],
        &["r", "nosuch", "a"],
        &["r"],
        &["m"],
        &["m", "10"],
        &["e", "string.rep('x', 200)"],
        &["maxlen", "0"],
        &["e", "string.rep('x', 200)"],
        &["nosuch"],
        &["S"],
        &["n"],
        &["c"],
        &["p"],
        &["t"],
        &["b", "0"],
        &["s"],
        &["s"],
        &["s"],
        &["c"],
    ];
    let eval = [SCRIPT, "1", "key1", "arg1"];
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let expected = session(&redis, &eval, commands);
    let got = session(&shoal, &eval, commands);
    assert_same(&expected, &got);
    // Sanity: the transcript is a session, not a refusal.
    assert!(got[1].contains("* Stopped at 1, stop reason = step over"), "{got:#?}");
    assert!(got.iter().any(|l| l.contains("stop reason = redis.breakpoint() called")), "{got:#?}");
    assert!(got.iter().any(|l| l.contains("stop reason = break point")), "{got:#?}");
    assert!(got.iter().any(|l| l.contains("<debug> line 2: ")), "{got:#?}");
    assert!(got.iter().any(|l| l.contains("<endsession>")), "{got:#?}");
    // SYNC mode: the session's writes stay.
    for server in [&redis, &shoal] {
        let mut c = server.client();
        assert_eq!(raw(&mut c, &["get", "k"]), b"$1\r\nv\r\n");
        assert_eq!(raw(&mut c, &["get", "counter"]), b"$1\r\n1\r\n");
        assert_eq!(raw(&mut c, &["hget", "h", "f"]), b"$1\r\nv\r\n");
    }
}

#[test]
fn errors_abort_evalsha_and_eval_ro_match_redis() {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let cases: &[(&[&str], &[&[&str]])] = &[
        // An error from redis.call ends the script: logged, then the reply.
        (&["redis.call('nosuch')\nreturn 1", "0"], &[&["s"]]),
        (&["redis.call('set', 'str', 'x')\nredis.call('lpush', 'str', 'a')", "0"], &[&["s"], &["s"]]),
        // abort: the error names the line; the write before it stays.
        (&["redis.call('set', 'before', '1')\nreturn 1", "0"], &[&["s"], &["a"]]),
        // A compile error still opens and closes a session.
        (&["return +", "0"], &[]),
        // The debugger's `eval` command with extra words (the suite sends
        // a whole EVAL as debugger commands).
        (&["return 'hello'", "0"], &[&["eval", "return 'hello'", "0"], &["c"]]),
        // An empty argument is a protocol error: the script fails.
        (&["return 1", "0"], &[&["r", ""]]),
        // A breakpoint inside a loop, hit once per turn.
        (&["local t = {}\nfor i = 1, 3 do\n  t[i] = i\nend\nreturn t", "0"], &[&["b", "3"], &["c"], &["p"], &["c"], &["p", "i"], &["c"], &["c"]]),
    ];
    for (eval, commands) in cases {
        let expected = session(&redis, eval, commands);
        let got = session(&shoal, eval, commands);
        assert_same(&expected, &got);
    }
    // EVALSHA is refused while debugging is on (a session needs the
    // source), and the connection stays; EVAL_RO is a session.
    let mut results = Vec::new();
    for server in [&redis, &shoal] {
        let mut c = server.client();
        let loaded = text(&raw(&mut c, &["script", "load", "return 7"]));
        let sha = loaded.lines().nth(1).expect("a SHA-1").to_string();
        raw(&mut c, &["script", "debug", "sync"]);
        let mut transcript = vec![text(&raw(&mut c, &["evalsha", &sha, "0"]))];
        transcript.push(text(&raw(&mut c, &["evalsha_ro", "abc", "0"])));
        transcript.push(text(&raw(&mut c, &["eval_ro", "return 8", "0"])));
        transcript.push(text(&raw(&mut c, &["c"])));
        transcript.push(text(&c.read_raw()));
        assert!(c.closed());
        results.push(transcript);
    }
    assert_same(&results[0], &results[1]);
    assert_eq!(results[1][0], "-ERR Please use EVAL instead of EVALSHA for debugging\r\n");
    assert_eq!(results[1][4], ":8\r\n");
}

#[test]
fn protocol_parsing_and_deep_redis_command_as_in_the_suite() {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let mut transcripts = Vec::new();
    for server in [&redis, &shoal] {
        let mut c = server.client();
        raw(&mut c, &["script", "debug", "sync"]);
        let mut transcript = vec![text(&raw(&mut c, &["eval", "return 'hello'", "0"]))];
        for command in [&b"hello\0world"[..], b"hello\0", b"\0hello", b"\0hello\0"] {
            c.send(&[command]);
            transcript.push(text(&c.read_raw()));
        }
        // `redis` with 100 arguments: the command is unknown, nothing breaks.
        let mut deep = b"*101\r\n$5\r\nredis\r\n".to_vec();
        deep.extend_from_slice(&b"$4\r\ntest\r\n".repeat(100));
        c.send_raw(&deep);
        transcript.push(text(&c.read_raw()));
        let mut other = server.client();
        drop(c);
        // The session ends once its client left; the server serves on.
        let mut pong = other.read_raw_after(&["ping"]);
        while pong.starts_with(b"-BUSY") {
            std::thread::sleep(Duration::from_millis(20));
            pong = other.read_raw_after(&["ping"]);
        }
        assert_eq!(pong, b"+PONG\r\n");
        transcripts.push(transcript);
    }
    assert_same(&transcripts[0], &transcripts[1]);
    for line in &transcripts[1][1..5] {
        assert!(line.contains("Unknown Redis Lua debugger command or wrong number of arguments."), "{line}");
    }
    assert!(transcripts[1][5].contains("<error> Unknown Redis command called from script"), "{}", transcripts[1][5]);
    assert!(transcripts[1][5].contains("... (89 more)"), "{}", transcripts[1][5]);
}

trait Ask {
    fn read_raw_after(&mut self, words: &[&str]) -> Vec<u8>;
}

impl Ask for RawClient {
    fn read_raw_after(&mut self, words: &[&str]) -> Vec<u8> {
        raw(self, words)
    }
}

#[test]
fn script_debug_modes() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let yes = text(&raw(&mut c, &["script", "debug", "yes"]));
    assert!(yes.starts_with("-ERR ") && yes.contains("SCRIPT DEBUG SYNC"), "{yes}");
    assert_eq!(raw(&mut c, &["script", "debug", "maybe"]), b"-ERR Use SCRIPT DEBUG YES/SYNC/NO\r\n");
    // Outside a session the debugger's functions do nothing.
    assert_eq!(raw(&mut c, &["eval", "redis.debug('x'); return redis.breakpoint()", "0"]), b"$-1\r\n");
    // SYNC then NO: the next EVAL runs plainly and the connection stays.
    assert_eq!(raw(&mut c, &["script", "debug", "sync"]), b"+OK\r\n");
    assert_eq!(raw(&mut c, &["script", "debug", "no"]), b"+OK\r\n");
    assert_eq!(raw(&mut c, &["eval", "return 1", "0"]), b":1\r\n");
    assert_eq!(raw(&mut c, &["ping"]), b"+PONG\r\n");
    // Inside MULTI it is refused; FCALL never starts a session.
    assert_eq!(raw(&mut c, &["multi"]), b"+OK\r\n");
    let queued = text(&raw(&mut c, &["script", "debug", "sync"]));
    assert_eq!(queued, "+QUEUED\r\n");
    let exec = text(&raw(&mut c, &["exec"]));
    assert!(exec.contains("SCRIPT DEBUG must be called outside MULTI"), "{exec}");
    raw(&mut c, &["function", "load", "#!lua name=lib\nredis.register_function('f', function() return 5 end)"]);
    assert_eq!(raw(&mut c, &["script", "debug", "sync"]), b"+OK\r\n");
    assert_eq!(raw(&mut c, &["fcall", "f", "0"]), b":5\r\n");
    // The flag stays for the next EVAL, which is a session.
    let started = text(&raw(&mut c, &["eval", "return 2", "0"]));
    assert!(started.contains("* Stopped at 1, stop reason = step over"), "{started}");
    assert_eq!(text(&raw(&mut c, &["c"])), "*1\r\n+<endsession>\r\n");
    assert_eq!(c.read_raw(), b":2\r\n");
    assert!(c.closed());
}

#[test]
fn a_session_holds_the_keyspace_without_hanging_its_worker() {
    // One worker: the debugging client and the others share it.
    let server = ServerProcess::shoal(&["--threads", "1", "--busy-reply-threshold", "100"]);
    let mut other = server.client();
    let mut c = server.client();
    raw(&mut c, &["script", "debug", "sync"]);
    let started = text(&raw(&mut c, &["eval", "redis.call('set', 'k', 'v')\nreturn redis.call('get', 'k')", "0"]));
    assert!(started.contains("Stopped at 1"), "{started}");
    // Others are answered (on the same worker): -BUSY, as for a long script.
    let busy = text(&raw(&mut other, &["get", "k"]));
    assert!(busy.starts_with("-BUSY "), "{busy}");
    let busy = text(&raw(&mut other, &["eval", "return 1", "0"]));
    assert!(busy.starts_with("-BUSY "), "{busy}");
    // The debugging client goes on.
    let step = text(&raw(&mut c, &["s"]));
    assert!(step.contains("<redis> set k v") && step.contains("Stopped at 2"), "{step}");
    // It leaves: the script runs to its end and the keyspace is free again.
    drop(c);
    let mut reply = raw(&mut other, &["get", "k"]);
    while reply.starts_with(b"-BUSY") {
        std::thread::sleep(Duration::from_millis(20));
        reply = raw(&mut other, &["get", "k"]);
    }
    assert_eq!(reply, b"$1\r\nv\r\n");
    assert_eq!(raw(&mut other, &["eval", "return 1", "0"]), b":1\r\n");
}

#[test]
fn the_count_hook_stops_a_runaway_script() {
    let redis = ServerProcess::redis(&["--busy-reply-threshold", "200"]);
    let shoal = ServerProcess::shoal(&["--busy-reply-threshold", "200"]);
    let mut results = Vec::new();
    for server in [&redis, &shoal] {
        let mut c = server.client();
        raw(&mut c, &["script", "debug", "sync"]);
        // The loop on one line: wherever the hook fires, it is line 2.
        raw(&mut c, &["eval", "local i = 0\nwhile true do i = i + 1 end", "0"]);
        let stopped = text(&raw(&mut c, &["c"]));
        let aborted = text(&raw(&mut c, &["a"]));
        let reply = text(&c.read_raw());
        assert!(c.closed());
        results.push(vec![stopped, aborted, reply]);
    }
    assert_eq!(results[0], results[1]);
    assert!(results[1][0].contains("stop reason = timeout reached, infinite loop?"), "{:?}", results[1]);
}

#[test]
fn shutdown_nosave_ends_a_session() {
    let mut server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    raw(&mut c, &["script", "debug", "sync"]);
    raw(&mut c, &["eval", "redis.call('set', 'k', 'v')\nreturn 1", "0"]);
    raw(&mut c, &["s"]);
    let mut other = server.client();
    send(&mut other, &["shutdown", "nosave"]);
    server.wait_exit();
}

#[test]
fn redis_cli_ldb_sync_mode_works_as_with_redis() {
    let Some(cli) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join("redis-cli")).find(|p| p.is_file())
    }) else {
        panic!("redis-cli is required (it comes with redis-server)");
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.lua");
    std::fs::write(&file, "local a = redis.call('incr', KEYS[1])\nredis.debug('a is', a, ARGV[1])\nreturn a\n").unwrap();
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let mut outputs = Vec::new();
    for server in [&redis, &shoal] {
        use std::io::Write;
        let mut child = std::process::Command::new(&cli)
            .args(["-p", &server.port.to_string(), "--ldb-sync-mode", "--eval"])
            .arg(&file)
            .args(["counter", ",", "arg"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"s\ns\np\nc\n").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        outputs.push(String::from_utf8_lossy(&output.stdout).into_owned());
        let mut c = server.client();
        assert_eq!(raw(&mut c, &["get", "counter"]), b"$1\r\n1\r\n");
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[1].contains("<debug> line 2: \"a is\", 1, \"arg\""), "{}", outputs[1]);
    assert!(outputs[1].contains("(integer) 1"), "{}", outputs[1]);
}
