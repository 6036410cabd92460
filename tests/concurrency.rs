//! Multithreading: clients on different worker threads run at the same
//! time, and multi-key commands and transactions stay atomic and isolated
//! while other cores read and write the same keys.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use shoal_resp::Value;
use support::{bulk, simple, ServerProcess};

/// Keys spread over many shards (no hash tags), so the commands below are
/// genuinely multi-shard.
fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("atomic:key:{i}")).collect()
}

#[test]
fn a_client_is_served_while_another_worker_is_busy() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no", "--enable-debug-command", "yes"]);
    // Without packing, consecutive connections go to different workers
    // (round robin).
    let mut sleeper = server.client();
    let mut other = server.client();
    assert_eq!(sleeper.cmd("PING"), simple("PONG"));
    assert_eq!(other.cmd("PING"), simple("PONG"));
    sleeper.send(&[b"DEBUG", b"SLEEP", b"3"]);
    // Give the sleeper's worker time to enter the command.
    thread::sleep(std::time::Duration::from_millis(300));
    // The other worker answers while the first one is still inside DEBUG SLEEP:
    // with a single command thread this PING would wait for the sleep to end.
    assert_eq!(other.cmd("PING"), simple("PONG"));
    let still_sleeping = support::no_reply_yet(&mut sleeper);
    assert!(still_sleeping, "PING was only answered after DEBUG SLEEP finished");
    assert_eq!(sleeper.read(), simple("OK"));
}

/// Four connections without packing: round robin puts the 1st and 3rd on
/// one worker, the 2nd and 4th on the other.
fn four_clients(server: &ServerProcess) -> [support::RawClient; 4] {
    let mut clients = [server.client(), server.client(), server.client(), server.client()];
    for c in clients.iter_mut() {
        assert_eq!(c.cmd("PING"), simple("PONG"));
    }
    clients
}

#[test]
fn a_worker_serves_its_other_clients_while_one_waits_for_busy_shards() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no", "--enable-debug-command", "yes"]);
    let [mut holder, mut waiter, _, mut pinger] = four_clients(&server);
    // DEBUG holds every shard; SLEEP keeps them held on the holder's worker.
    holder.send(&[b"DEBUG", b"SLEEP", b"5"]);
    thread::sleep(std::time::Duration::from_millis(300));
    // The waiter's GET needs a shard the holder has: it must wait...
    waiter.send(&[b"GET", b"k"]);
    thread::sleep(std::time::Duration::from_millis(200));
    // ...without stopping its worker: the pinger, on the same worker, is
    // answered. Had the waiter's thread blocked on the shard, this PONG
    // would only come after the sleep, behind the waiter's reply.
    assert_eq!(pinger.cmd("PING"), simple("PONG"));
    assert!(support::no_reply_yet(&mut waiter), "the PING waited for the busy shard (or the GET ran while it was held)");
    assert!(support::no_reply_yet(&mut holder), "inconclusive: DEBUG SLEEP ended before the PING was answered");
    assert_eq!(holder.read(), simple("OK"));
    assert_eq!(waiter.read(), Value::Null);
}

#[test]
fn a_long_exclusive_unit_makes_other_clients_busy_past_the_threshold() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no", "--enable-debug-command", "yes"]);
    let [mut holder, mut other, _, _] = four_clients(&server);
    assert_eq!(other.cmd("SET k v"), simple("OK"));
    assert_eq!(other.cmd("CONFIG SET busy-reply-threshold 100"), simple("OK"));
    holder.send(&[b"DEBUG", b"EXCLUSIVE", b"script", b"3"]);
    thread::sleep(std::time::Duration::from_millis(300));
    let busy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    // Keyed or not, commands are refused once the threshold has passed...
    assert_eq!(other.cmd("GET k"), support::error(busy));
    assert_eq!(other.cmd("PING"), support::error(busy));
    // ...except those flagged allow-busy.
    assert_eq!(other.cmd("MULTI"), simple("OK"));
    assert_eq!(other.cmd("DISCARD"), simple("OK"));
    assert_eq!(holder.read(), simple("OK"));
    assert_eq!(other.cmd("GET k"), bulk("v"));

    // A client already waiting for a shard when the threshold passes gets
    // -BUSY then, not when the unit ends.
    assert_eq!(other.cmd("CONFIG SET busy-reply-threshold 1000"), simple("OK"));
    holder.send(&[b"DEBUG", b"EXCLUSIVE", b"script", b"4"]);
    thread::sleep(std::time::Duration::from_millis(200));
    other.send(&[b"GET", b"k"]);
    assert_eq!(other.read(), support::error(busy));
    assert!(support::no_reply_yet(&mut holder), "inconclusive: the unit ended before the threshold reply");
    assert_eq!(holder.read(), simple("OK"));

    // While loading, commands without the loading flag are refused at once.
    holder.send(&[b"DEBUG", b"EXCLUSIVE", b"loading", b"2"]);
    thread::sleep(std::time::Duration::from_millis(200));
    let loading = "LOADING Redis is loading the dataset in memory";
    assert_eq!(other.cmd("GET k"), support::error(loading));
    assert_eq!(other.cmd("PING"), support::error(loading));
    assert_eq!(other.cmd("ECHO e"), bulk("e"));
    assert!(support::no_reply_yet(&mut holder), "inconclusive: the load ended too soon");
    assert_eq!(holder.read(), simple("OK"));
    assert_eq!(other.cmd("GET k"), bulk("v"));
}

#[test]
fn mset_is_atomic_for_concurrent_readers() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    let keys = Arc::new(keys(8));
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..2 {
        let (keys, port) = (keys.clone(), server.port);
        writers.push(thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            for round in 0..3000 {
                let value = format!("{writer}:{round}");
                let mut args: Vec<&[u8]> = vec![b"MSET"];
                for k in keys.iter() {
                    args.push(k.as_bytes());
                    args.push(value.as_bytes());
                }
                assert_eq!(c.call(&args), simple("OK"));
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (keys, port, done) = (keys.clone(), server.port, done.clone());
        readers.push(thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let mut args: Vec<&[u8]> = vec![b"MGET"];
                args.extend(keys.iter().map(|k| k.as_bytes()));
                let Value::Array(values) = c.call(&args) else { panic!("MGET returns an array") };
                let first = &values[0];
                assert!(values.iter().all(|v| v == first), "MGET saw a half-applied MSET: {values:?}");
                reads += 1;
            }
            reads
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn multi_exec_is_atomic_and_isolated() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..2 {
        let port = server.port;
        writers.push(thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            for _ in 0..2000 {
                c.send(&[b"MULTI"]);
                c.send(&[b"INCR", b"left"]);
                c.send(&[b"INCR", b"right"]);
                c.send(&[b"EXEC"]);
                assert_eq!(c.read(), simple("OK"));
                assert_eq!(c.read(), simple("QUEUED"));
                assert_eq!(c.read(), simple("QUEUED"));
                let Value::Array(results) = c.read() else { panic!("EXEC returns an array") };
                assert_eq!(results[0], results[1], "both counters move together");
            }
        }));
    }
    let reader = {
        let (port, done) = (server.port, done.clone());
        thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let Value::Array(values) = c.call(&[b"MGET", b"left", b"right"]) else { panic!() };
                assert_eq!(values[0], values[1], "a reader saw half of a transaction");
                reads += 1;
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let mut c = server.client();
    assert_eq!(c.cmd("GET left"), bulk("4000"));
    assert_eq!(c.cmd("GET right"), bulk("4000"));
}

#[test]
fn watch_gives_optimistic_locking_across_threads() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    server.client().cmd("SET counter 0");
    let mut workers = Vec::new();
    for _ in 0..4 {
        let port = server.port;
        workers.push(thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            let mut done = 0;
            while done < 250 {
                c.cmd("WATCH counter");
                let Value::Bulk(current) = c.cmd("GET counter") else { panic!() };
                let next = String::from_utf8(current).unwrap().parse::<i64>().unwrap() + 1;
                c.cmd("MULTI");
                c.call(&[b"SET", b"counter", next.to_string().as_bytes()]);
                match c.cmd("EXEC") {
                    Value::Array(_) => done += 1,
                    Value::NullArray => {}
                    other => panic!("unexpected EXEC reply {other:?}"),
                }
            }
        }));
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(server.client().cmd("GET counter"), bulk("1000"));
}

#[test]
fn rename_across_shards_is_never_seen_half_done() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    server.client().cmd("SET here payload");
    let done = Arc::new(AtomicBool::new(false));
    let mover = {
        let port = server.port;
        thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            for i in 0..4000 {
                let (from, to): (&[u8], &[u8]) = if i % 2 == 0 { (b"here", b"there") } else { (b"there", b"here") };
                assert_eq!(c.call(&[b"RENAME", from, to]), simple("OK"));
            }
        })
    };
    let watcher = {
        let (port, done) = (server.port, done.clone());
        thread::spawn(move || {
            let mut c = support::RawClient::connect(port).unwrap();
            while !done.load(Ordering::Relaxed) {
                assert_eq!(c.cmd("EXISTS here there"), Value::Int(1), "exactly one name exists at any time");
            }
        })
    };
    mover.join().unwrap();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
}
