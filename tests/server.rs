//! The server as a process and its administrative commands: command line
//! and config files, signals, SHUTDOWN, CONFIG, CLIENT, INFO, expiry.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{bulk, error, simple, RawClient, ServerProcess};

fn shoal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shoal-server"))
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_configuration_is_refused_naming_the_directive() {
    let out = shoal().args(["--port", "99999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FATAL CONFIG FILE ERROR"), "{stderr}");
    assert!(stderr.contains("'port \"99999\"'"), "{stderr}");
    assert!(stderr.contains("argument must be between 0 and 65535 inclusive"), "{stderr}");

    let out = shoal().args(["--no-such-directive", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-directive"), "{stderr}");
    assert!(stderr.contains("Bad directive or wrong number of arguments"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "# comment\nport 7000\nappendonly perhaps\n").unwrap();
    let out = shoal().arg(&conf).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at line 3"), "{stderr}");
    assert!(stderr.contains("argument must be 'yes' or 'no'"), "{stderr}");
}

#[test]
fn version_flag() {
    let out = shoal().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("redis-compatible=7.0.15"));
}

#[test]
fn sigterm_and_shutdown_exit_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("shoal.pid");
    let mut server = ServerProcess::spawn(|port, _| {
        let mut command = shoal();
        command.args(["--port", &port.to_string(), "--pidfile", pidfile.to_str().unwrap(), "--save", ""]);
        command
    });
    wait_until("pidfile", || pidfile.exists());
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    let status = server.exit_status();
    assert_eq!(status.code(), Some(0));
    assert!(!pidfile.exists(), "the pid file is removed on exit");

    let mut server = ServerProcess::spawn(|port, _| {
        let mut command = shoal();
        command.args(["--port", &port.to_string(), "--save", ""]);
        command
    });
    let mut client = server.client();
    client.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(client.try_read_raw().is_none(), "SHUTDOWN closes the connection without a reply");
    assert_eq!(server.exit_status().code(), Some(0));
}

/// A panic where data may have changed stops the server with a report
/// naming the command and the client, rather than serving on with a
/// dataset its replicas never saw; DEBUG PANIC takes that path on purpose.
#[test]
fn a_panic_stops_the_server_with_a_bug_report() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("shoal.log");
    let mut server = ServerProcess::spawn(|port, _| {
        let mut command = shoal();
        command.args(["--port", &port.to_string(), "--save", "", "--enable-debug-command", "yes"]);
        command.args(["--logfile", log.to_str().unwrap()]);
        command
    });
    let mut client = server.client();
    client.cmd("CLIENT SETNAME crasher");
    client.send(&[b"DEBUG", b"PANIC"]);
    assert!(client.try_read_raw().is_none(), "no reply: the server is gone");
    let status = server.exit_status();
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("BUG REPORT START"), "{text}");
    assert!(text.contains("Panic in command 'debug': DEBUG PANIC called"), "{text}");
    assert!(text.contains("name=crasher"), "the client is named: {text}");
}

#[test]
fn config_file_set_get_and_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("shoal.conf");
    let mut server = ServerProcess::spawn(|port, _| {
        let text = format!("# my config\nport {port}\nmaxmemory 10mb\nsave \"\"\nlatency-monitor-threshold 0\n");
        std::fs::write(&conf, text).unwrap();
        let mut command = shoal();
        command.arg(&conf);
        command
    });
    let mut c = server.client();
    let reply = c.cmd("CONFIG GET maxmemory");
    assert_eq!(reply, Value::Array(vec![bulk("maxmemory"), bulk("10485760")]));
    assert_eq!(c.cmd("CONFIG SET maxmemory 20mb hz 20"), simple("OK"));
    assert_eq!(
        c.cmd("CONFIG SET maxmemory 1gb port notaport"),
        error("ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer")
    );
    assert_eq!(c.cmd("CONFIG GET maxmemory"), Value::Array(vec![bulk("maxmemory"), bulk("20971520")]));
    assert_eq!(c.cmd("CONFIG SET nosuch 1"), error("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"));
    assert_eq!(c.cmd("CONFIG REWRITE"), simple("OK"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# my config\n"), "comments are kept: {text}");
    assert!(text.contains("maxmemory 20971520"), "{text}");
    assert!(text.contains("hz 20"), "{text}");
    c.send(&[b"SHUTDOWN"]);
    server.wait_exit();
    // The rewritten file starts the server again with the new values.
    let mut server = ServerProcess::spawn_on(server.port, |_, _| {
        let mut command = shoal();
        command.arg(&conf);
        command
    });
    let mut c = server.client();
    assert_eq!(c.cmd("CONFIG GET hz"), Value::Array(vec![bulk("hz"), bulk("20")]));
    c.send(&[b"SHUTDOWN"]);
    server.wait_exit();
}

/// Every parameter CONFIG GET * reports, set back to the value it
/// reports: Shoal accepts (and reports unchanged afterwards) exactly what
/// redis-server 7.0 accepts, and refuses the same immutable and protected
/// parameters. Shoal's own parameters must round-trip unless immutable.
#[test]
fn config_set_takes_back_what_config_get_reports_like_redis() {
    fn settable(server: &ServerProcess) -> std::collections::BTreeMap<Vec<u8>, Result<(), String>> {
        let mut c = server.client();
        let Value::Array(all) = c.cmd("CONFIG GET *") else { panic!("CONFIG GET * failed") };
        let mut outcome = std::collections::BTreeMap::new();
        for pair in all.chunks(2) {
            let (Value::Bulk(name), Value::Bulk(value)) = (&pair[0], &pair[1]) else { panic!("{pair:?}") };
            let result = match c.call(&[b"CONFIG", b"SET", name, value]) {
                Value::Simple(ok) if ok == b"OK" => {
                    let again = c.call(&[b"CONFIG", b"GET", name]);
                    assert_eq!(again, Value::Array(pair.to_vec()), "{} changed", String::from_utf8_lossy(name));
                    Ok(())
                }
                Value::Error(e) => Err(String::from_utf8_lossy(&e).into_owned()),
                other => panic!("CONFIG SET {}: {other:?}", String::from_utf8_lossy(name)),
            };
            outcome.insert(name.clone(), result);
        }
        outcome
    }
    let redis = settable(&ServerProcess::redis(&[]));
    let shoal = settable(&ServerProcess::shoal(&[]));
    for (name, result) in &shoal {
        let shown = String::from_utf8_lossy(name);
        match redis.get(name) {
            Some(expected) => assert_eq!(result, expected, "CONFIG SET {shown} <its value>"),
            None => {
                if let Err(e) = result {
                    assert!(e.contains("can't set immutable config"), "Shoal's {shown}: {e}");
                }
            }
        }
    }
    let missing: Vec<_> = redis.keys().filter(|n| !shoal.contains_key(*n)).map(|n| String::from_utf8_lossy(n)).collect();
    assert!(missing.is_empty(), "parameters redis-server has and Shoal lacks: {missing:?}");
}

/// CONFIG SET port moves the listener at once; a port that cannot be
/// listened on fails the whole call, and every parameter of it keeps its
/// old value (redis-server's errors). CONFIG GET finds hidden parameters
/// by exact name only.
#[test]
fn config_set_port_listens_elsewhere_or_rolls_back() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let reply = c.call(&[b"CONFIG", b"SET", b"maxmemory", b"10000001", b"port", taken_port.as_bytes()]);
    assert_eq!(
        reply,
        error("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.")
    );
    assert_eq!(c.cmd("CONFIG GET maxmemory"), Value::Array(vec![bulk("maxmemory"), bulk("0")]));
    assert_eq!(server.client().cmd("PING"), simple("PONG"), "still listening on the old port");

    let new_port = support::free_port();
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"port", new_port.to_string().as_bytes()]), simple("OK"));
    assert!(RawClient::connect(server.port).is_err(), "the old port is closed");
    let mut moved = RawClient::connect(new_port).unwrap();
    let Value::Bulk(info) = moved.cmd("INFO server") else { panic!() };
    assert!(String::from_utf8_lossy(&info).contains(&format!("tcp_port:{new_port}\r\n")));
    assert_eq!(c.cmd("PING"), simple("PONG"), "connections made before stay");
    let reply = moved.cmd("CONFIG SET bind 192.0.2.1");
    assert_eq!(reply, error("ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."));
    assert_eq!(RawClient::connect(new_port).unwrap().cmd("PING"), simple("PONG"));
    drop(taken);

    assert_eq!(c.cmd("CONFIG GET key-load-delay"), Value::Array(vec![bulk("key-load-delay"), bulk("0")]));
    assert_eq!(c.cmd("CONFIG GET MAXMEMORY"), Value::Array(vec![bulk("MAXMEMORY"), bulk("0")]));
    assert_eq!(c.cmd("CONFIG GET key-load-*"), Value::Array(vec![]), "hidden from patterns");
}

#[test]
fn config_get_patterns_and_aliases() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let Value::Array(all) = c.cmd("CONFIG GET *") else { panic!() };
    assert!(all.len() > 300, "CONFIG GET * lists every parameter and alias");
    assert_eq!(c.cmd("CONFIG GET slave-read-only"), Value::Array(vec![bulk("slave-read-only"), bulk("yes")]));
    let Value::Array(maxmem) = c.cmd("CONFIG GET maxmemory*") else { panic!() };
    assert_eq!(maxmem.len(), 10, "maxmemory, -policy, -samples, -eviction-tenacity, -clients");
}

#[test]
fn client_kill_and_client_list() {
    let server = ServerProcess::shoal(&[]);
    let mut victim = server.client();
    assert_eq!(victim.cmd("CLIENT SETNAME victim"), simple("OK"));
    let Value::Int(id) = victim.cmd("CLIENT ID") else { panic!() };
    let mut admin = server.client();
    let Value::Bulk(list) = admin.cmd("CLIENT LIST") else { panic!() };
    let list = String::from_utf8(list).unwrap();
    assert!(list.contains(&format!("id={id} ")) && list.contains("name=victim"), "{list}");
    assert_eq!(admin.call(&[b"CLIENT", b"KILL", b"ID", id.to_string().as_bytes()]), Value::Int(1));
    assert!(victim.closed(), "the killed client is disconnected");
    assert_eq!(admin.cmd("CLIENT KILL 1.2.3.4:5"), error("ERR No such client"));
}

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    let server = ServerProcess::shoal(&[]);
    let mut admin = server.client();
    let mut writer = server.client();
    assert_eq!(admin.cmd("CLIENT PAUSE 100000 WRITE"), simple("OK"));
    // Reads are served during a write pause.
    assert_eq!(writer.cmd("GET k"), Value::Null);
    writer.send(&[b"SET", b"k", b"v"]);
    // The SET is held: the next reply on this connection is not there yet.
    std::thread::sleep(Duration::from_millis(200));
    writer.stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let held = matches!(std::io::Read::read(&mut writer.stream, &mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    writer.stream.set_nonblocking(false).unwrap();
    assert!(held, "a write was served during CLIENT PAUSE WRITE");
    // As in Redis, the held client counts as blocked and shows its command.
    support::wait_blocked(&mut admin, 1);
    let Value::Bulk(list) = admin.cmd("CLIENT LIST") else { panic!("CLIENT LIST failed") };
    let list = String::from_utf8(list).unwrap();
    assert!(list.lines().any(|l| l.contains(" flags=b ") && l.contains(" cmd=set ")), "{list}");
    // A held client can be killed; the pause then holds nobody.
    let mut doomed = server.client();
    doomed.send(&[b"DEL", b"k"]);
    support::wait_blocked(&mut admin, 2);
    assert_eq!(admin.cmd("CLIENT KILL TYPE normal SKIPME yes"), Value::Int(2));
    assert!(doomed.closed(), "a killed held client is disconnected");
    support::wait_blocked(&mut admin, 0);
    assert_eq!(admin.cmd("CLIENT UNPAUSE"), simple("OK"));
    assert_eq!(admin.cmd("GET k"), Value::Null, "neither held write ran");
}

#[test]
fn client_list_shows_each_clients_latest_command() {
    let server = ServerProcess::shoal(&[]);
    let mut reader = server.client();
    let mut confused = server.client();
    let mut admin = server.client();
    assert_eq!(reader.cmd("GET k"), Value::Null);
    assert!(matches!(confused.cmd("NOSUCHCOMMAND"), Value::Error(_)));
    let Value::Bulk(list) = admin.cmd("CLIENT LIST") else { panic!("CLIENT LIST failed") };
    let commands: Vec<String> = String::from_utf8(list)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').find_map(|f| f.strip_prefix("cmd=")).unwrap().to_string())
        .collect();
    // Redis 7.0: the latest command, NULL after an unknown one.
    assert_eq!(commands, ["get", "NULL", "client|list"]);
}

#[test]
fn idle_clients_time_out() {
    let server = ServerProcess::shoal(&["--timeout", "1"]);
    let mut idle = server.client();
    assert_eq!(idle.cmd("PING"), simple("PONG"));
    assert!(idle.closed(), "an idle client is closed after `timeout` seconds");
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    for i in 0..100 {
        c.call(&[b"SET", format!("short:{i}").as_bytes(), b"v", b"PX", b"50"]);
    }
    c.cmd("SET long v EX 1000");
    wait_until("active expiry", || c.cmd("DBSIZE") == Value::Int(1));
    let Value::Bulk(info) = c.cmd("INFO stats") else { panic!() };
    assert!(String::from_utf8(info).unwrap().contains("expired_keys:100"));
}

#[test]
fn info_sections() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("SET b 2 EX 100");
    let text = |v: Value| String::from_utf8(v.as_bytes().unwrap().to_vec()).unwrap();
    let default = text(c.cmd("INFO"));
    for section in ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Keyspace"] {
        assert!(default.contains(section), "INFO lacks {section}");
    }
    assert!(default.contains("db0:keys=2,expires=1,avg_ttl=0"));
    assert!(!default.contains("# Commandstats"));
    let all = text(c.cmd("INFO all"));
    assert!(all.contains("cmdstat_set:calls=2"), "{all}");
    let cpu = text(c.cmd("INFO cpu"));
    assert!(cpu.starts_with("# CPU\r\n") && !cpu.contains("# Memory"));
}

#[test]
fn unix_socket_serves_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shoal.sock");
    let server = ServerProcess::shoal(&["--unixsocket", path.to_str().unwrap()]);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"PING\r\n").unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
    drop(server);
}

#[test]
fn sync_sends_a_snapshot_then_the_write_stream() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET before 1");
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    // "$<len>\r\n<rdb>" then the stream.
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    use std::io::Read;
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        header.push(byte[0]);
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    assert!(rdb.starts_with(b"REDIS0010"));
    assert!(rdb.windows(6).any(|w| w == b"before"), "the snapshot holds existing keys");
    c.cmd("SET after 2 EX 100");
    assert_eq!(replica.read(), Value::Array(vec![bulk("SELECT"), bulk("0")]));
    let Value::Array(set) = replica.read() else { panic!() };
    assert_eq!(&set[..4], &[bulk("SET"), bulk("after"), bulk("2"), bulk("PXAT")]);
}

/// Scheduling policy (field 41 of /proc/<pid>/task/<tid>/stat) of every
/// thread of `pid` whose name starts with `prefix`.
fn thread_policies(pid: u32, prefix: &str) -> Vec<u32> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised name start at field 3.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        policies.push(rest.split(' ').nth(41 - 3).unwrap().parse().unwrap());
    }
    policies
}

#[test]
fn worker_threads_run_sched_batch_only_when_configured() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let normal = ServerProcess::shoal(&["--threads", "2"]);
    assert_eq!(thread_policies(normal.pid(), "shoal-worker"), vec![SCHED_OTHER; 2]);
    let mut c = normal.client();
    assert_eq!(
        c.call(&[b"CONFIG", b"GET", b"worker-sched-batch"]),
        Value::Array(vec![bulk("worker-sched-batch"), bulk("no")])
    );
    let batch = ServerProcess::shoal(&["--threads", "2", "--worker-sched-batch", "yes"]);
    assert_eq!(thread_policies(batch.pid(), "shoal-worker"), vec![SCHED_BATCH; 2]);
    assert_eq!(thread_policies(batch.pid(), "shoal-accept"), vec![SCHED_OTHER]);
}

/// The argument lists of SLOWLOG GET's entries, newest first.
fn slowlog_commands(c: &mut RawClient) -> Vec<Vec<String>> {
    let Value::Array(entries) = c.cmd("SLOWLOG GET -1") else { panic!("SLOWLOG GET") };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(fields) = entry else { panic!("entry") };
            assert_eq!(fields.len(), 6, "id, time, duration, args, peer, name");
            let Value::Array(args) = &fields[3] else { panic!("args") };
            args.iter()
                .map(|a| match a {
                    Value::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

#[test]
fn slowlog_keeps_slow_commands_trimmed_and_redacted() {
    let server = ServerProcess::shoal(&["--enable-debug-command", "yes", "--slowlog-log-slower-than", "100000"]);
    let mut c = server.client();
    assert_eq!(c.cmd("SLOWLOG LEN"), Value::Int(0));
    c.cmd("PING");
    assert_eq!(c.cmd("SLOWLOG LEN"), Value::Int(0), "fast commands are not logged");
    c.cmd("CLIENT SETNAME sleeper");
    c.cmd("DEBUG SLEEP 0.2");
    let Value::Array(entries) = c.cmd("SLOWLOG GET") else { panic!() };
    let Value::Array(fields) = &entries[0] else { panic!() };
    assert!(matches!(fields[2], Value::Int(us) if us >= 200_000), "{fields:?}");
    assert_eq!(fields[5], Value::Bulk(b"sleeper".to_vec()));

    c.cmd("CONFIG SET slowlog-log-slower-than 0");
    c.cmd("SLOWLOG RESET");
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"s"];
    sadd.extend(many.iter().map(|m| m.as_bytes()));
    c.call(&sadd);
    let long = "x".repeat(130);
    c.call(&[b"SET", b"k", long.as_bytes()]);
    c.cmd("CONFIG SET requirepass sesame");
    c.cmd("CONFIG SET requirepass");
    c.call(&[b"CONFIG", b"SET", b"requirepass", b""]);
    c.cmd("AUTH nobody wrong");
    c.cmd("HELLO 2 AUTH nobody wrong");
    c.cmd("MULTI");
    c.cmd("INCR n");
    c.cmd("EXEC");
    let logged = slowlog_commands(&mut c);
    let newest_first: Vec<String> = logged.iter().map(|a| a.join(" ")).collect();
    // Queued commands are logged when EXEC runs them, EXEC itself is not;
    // commands refused before running (the CONFIG SET missing its value)
    // are not logged.
    assert_eq!(newest_first[0], "INCR n", "{newest_first:?}");
    assert_eq!(newest_first[1], "MULTI");
    assert_eq!(newest_first[2], "HELLO 2 AUTH (redacted) (redacted)");
    assert_eq!(newest_first[3], "AUTH (redacted) (redacted)");
    assert_eq!(newest_first[4], "CONFIG SET requirepass (redacted)");
    assert_eq!(newest_first[5], "CONFIG SET requirepass (redacted)");
    assert_eq!(logged[6][2], format!("{}... (2 more bytes)", "x".repeat(128)));
    assert_eq!(newest_first[8], "SLOWLOG RESET");
    let sadd_logged = &logged[7];
    assert_eq!(sadd_logged.len(), 32);
    assert_eq!(sadd_logged[31], "... (11 more arguments)");
    assert_eq!(sadd_logged[30], "28");

    // A blocked command is logged once served.
    c.cmd("SLOWLOG RESET");
    let mut waiter = server.client();
    waiter.send(&[b"BLPOP", b"list", b"0"]);
    support::wait_blocked(&mut c, 1);
    c.cmd("LPUSH list a");
    assert_eq!(waiter.read(), Value::Array(vec![Value::Bulk(b"list".to_vec()), Value::Bulk(b"a".to_vec())]));
    wait_until("the served BLPOP is logged", || slowlog_commands(&mut c).iter().any(|a| a.join(" ") == "BLPOP list 0"));

    c.cmd("CONFIG SET slowlog-max-len 2");
    c.cmd("PING");
    c.cmd("PING");
    c.cmd("PING");
    assert_eq!(c.cmd("SLOWLOG LEN"), Value::Int(2));
    let Value::Array(one) = c.cmd("SLOWLOG GET 1") else { panic!() };
    assert_eq!(one.len(), 1);
    assert_eq!(c.cmd("SLOWLOG GET -2"), error("ERR count should be greater than or equal to -1"));
    c.cmd("CONFIG SET slowlog-log-slower-than -1");
    c.cmd("SLOWLOG RESET");
    c.cmd("PING");
    assert_eq!(c.cmd("SLOWLOG LEN"), Value::Int(0), "a negative threshold disables the log");
}

/// An INFO field as a number.
fn info_number(c: &mut RawClient, section: &str, field: &str) -> u64 {
    let Value::Bulk(text) = c.cmd(&format!("INFO {section}")) else { panic!("INFO failed") };
    let prefix = format!("{field}:");
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// UNLINK, DEL under lazyfree-lazy-user-del and FLUSHALL ASYNC free large
/// values in the background and count them (lazyfreed_objects); small
/// values are freed at once, and CONFIG RESETSTAT clears the count.
#[test]
fn large_values_are_freed_in_the_background() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let fill = |c: &mut RawClient, key: &str| {
        let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), key.as_bytes().to_vec()];
        args.extend((0..1000).map(|i| format!("member:{i}").into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(c.call(&refs), Value::Int(1000));
    };
    let freed_becomes = |c: &mut RawClient, n: u64| {
        wait_until("the background frees", || info_number(c, "memory", "lazyfreed_objects") == n);
        assert_eq!(info_number(c, "memory", "lazyfree_pending_objects"), 0);
    };
    fill(&mut c, "big");
    assert_eq!(c.cmd("SADD small a b c"), Value::Int(3));
    assert_eq!(c.cmd("UNLINK big small missing"), Value::Int(2));
    freed_becomes(&mut c, 1);
    assert_eq!(c.cmd("EXISTS big small"), Value::Int(0));

    fill(&mut c, "big");
    assert_eq!(c.cmd("DEL big"), Value::Int(1));
    freed_becomes(&mut c, 1);
    assert_eq!(c.cmd("CONFIG SET lazyfree-lazy-user-del yes"), simple("OK"));
    fill(&mut c, "big");
    assert_eq!(c.cmd("DEL big"), Value::Int(1));
    freed_becomes(&mut c, 2);

    assert_eq!(c.cmd("MSET a 1 b 2 c 3"), simple("OK"));
    assert_eq!(c.cmd("FLUSHALL SYNC"), simple("OK"));
    freed_becomes(&mut c, 2);
    assert_eq!(c.cmd("MSET a 1 b 2 c 3"), simple("OK"));
    assert_eq!(c.cmd("FLUSHALL ASYNC"), simple("OK"));
    freed_becomes(&mut c, 5);
    assert_eq!(c.cmd("DBSIZE"), Value::Int(0));
    assert_eq!(c.cmd("CONFIG RESETSTAT"), simple("OK"));
    assert_eq!(info_number(&mut c, "memory", "lazyfreed_objects"), 0);
}

/// A count that alone makes a reply larger than proto-max-bulk-len is
/// refused before anything is built (Redis 7.0 starts building it and is
/// stopped by the output limit); the server's memory does not move.
#[test]
fn huge_reply_counts_are_refused_before_allocating() {
    let server = ServerProcess::shoal(&[]);
    let mut client = server.client();
    client.cmd("HSET myhash a b");
    client.cmd("SADD myset a");
    let rss_before = info_number(&mut client, "memory", "used_memory_rss");
    for command in ["HRANDFIELD myhash -999999999", "SRANDMEMBER myset -999999999999", "ZRANDMEMBER nokey -999999999"] {
        let reply = client.cmd(command);
        if command.starts_with("ZRANDMEMBER") {
            // A missing key: nothing to repeat, an empty reply.
            assert_eq!(reply, Value::Array(vec![]), "{command}");
            continue;
        }
        assert_eq!(reply, error("ERR count is too large: the reply would exceed proto-max-bulk-len"), "{command}");
    }
    let rss_after = info_number(&mut client, "memory", "used_memory_rss");
    assert!(rss_after < rss_before + 64 * 1024 * 1024, "RSS {rss_before} -> {rss_after}");
    assert_eq!(client.cmd("PING"), simple("PONG"));
}

/// The replies to one read count together against the output limit, as in
/// Redis, which writes none of them before the whole read has run: also
/// when Shoal wrote some of them early because a script in the middle of
/// the pipeline ran on the script thread. Checked beside redis-server.
#[test]
fn replies_to_one_read_count_together_against_the_output_limit() {
    for server in [ServerProcess::shoal(&[]), ServerProcess::redis(&[])] {
        let mut c = server.client();
        assert_eq!(c.call(&[b"CONFIG", b"SET", b"client-output-buffer-limit", b"normal 100000 0 0"]), simple("OK"));
        c.call(&[b"SET", b"bigkey", "x".repeat(10_000).as_bytes()]);
        let pipeline = |before: usize, after: usize| {
            let mut bytes = b"GET bigkey\r\n".repeat(before);
            bytes.extend_from_slice(b"EVAL \"return 1\" 0\r\n");
            bytes.extend_from_slice(&b"GET bigkey\r\n".repeat(after));
            bytes
        };
        // About 90 kB of replies: under the limit, every reply arrives.
        let mut small = server.client();
        small.send_raw(&pipeline(6, 3));
        for _ in 0..6 {
            assert_eq!(small.read(), Value::Bulk(vec![b'x'; 10_000]));
        }
        assert_eq!(small.read(), Value::Int(1));
        for _ in 0..3 {
            assert_eq!(small.read(), Value::Bulk(vec![b'x'; 10_000]));
        }
        // About 120 kB: the client is closed before it gets them all.
        let mut big = server.client();
        big.send_raw(&pipeline(6, 6));
        big.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut received = 0;
        let mut chunk = [0u8; 16384];
        loop {
            match std::io::Read::read(&mut big.stream, &mut chunk) {
                Ok(0) => break,
                Ok(n) => received += n,
                Err(e) => panic!("the connection stayed open ({received} bytes read): {e}"),
            }
        }
        assert!(received < 12 * 10_000, "{received} bytes arrived");
        let Value::Bulk(list) = c.cmd("CLIENT LIST") else { panic!() };
        assert_eq!(String::from_utf8_lossy(&list).lines().count(), 2, "{}", String::from_utf8_lossy(&list));
    }
}

/// enable-protected-configs local lets a loopback client change protected
/// parameters (CONFIG SET passes the connection's locality); `no` refuses.
#[test]
fn protected_configs_follow_the_clients_locality() {
    let local = ServerProcess::shoal(&["--enable-protected-configs", "local"]);
    let dir = local.dir.path().to_str().unwrap().to_string();
    let mut client = local.client();
    assert_eq!(client.call(&[b"CONFIG", b"SET", b"dir", dir.as_bytes()]), simple("OK"));
    let refused = ServerProcess::shoal(&["--enable-protected-configs", "no"]);
    let mut client = refused.client();
    let Value::Error(message) = client.call(&[b"CONFIG", b"SET", b"dir", dir.as_bytes()]) else { panic!("accepted") };
    assert!(String::from_utf8_lossy(&message).contains("protected"), "{}", String::from_utf8_lossy(&message));
}
