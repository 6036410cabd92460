//! Connection placement: connections are packed onto few workers while
//! the load is light, spread when a worker gets busy, packed again when
//! it calms down, and moving a live connection between workers loses,
//! duplicates or reorders nothing. A new connection avoids a worker stuck
//! in a long command.

mod support;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{simple, RawClient, ServerProcess};

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// INFO workers as name -> value.
fn workers_info(c: &mut RawClient) -> std::collections::HashMap<String, String> {
    let Value::Bulk(text) = c.cmd("INFO workers") else { panic!("INFO workers failed") };
    String::from_utf8(text)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Connections a worker serves, from its `workerN:clients=..,...` line.
fn clients_of(info: &std::collections::HashMap<String, String>, worker: usize) -> usize {
    let line = &info[&format!("worker{worker}")];
    let field = line.split(',').find_map(|f| f.strip_prefix("clients=")).unwrap();
    field.parse().unwrap()
}

#[test]
fn a_new_client_avoids_a_worker_stuck_in_a_command() {
    let server = ServerProcess::shoal(&["--threads", "2", "--enable-debug-command", "yes"]);
    let mut sleeper = server.client();
    assert_eq!(sleeper.cmd("PING"), simple("PONG"));
    let info = workers_info(&mut sleeper);
    assert_eq!(info["workers_active"], "1", "a light load starts packed on one worker");
    assert_eq!(clients_of(&info, 0), 1);
    sleeper.send(&[b"DEBUG", b"SLEEP", b"3"]);
    // Let the sleeper's worker enter the command and count as stuck.
    thread::sleep(Duration::from_millis(300));
    let mut other = server.client();
    assert_eq!(other.cmd("PING"), simple("PONG"));
    let still_sleeping = support::no_reply_yet(&mut sleeper);
    assert!(still_sleeping, "the new client was only served after DEBUG SLEEP finished");
    let info = workers_info(&mut other);
    assert_eq!((clients_of(&info, 0), clients_of(&info, 1)), (1, 1), "{info:?}");
    assert_eq!(sleeper.read(), simple("OK"));
}

/// Pipelines `batch` INCRs of `key`, written in odd-sized pieces so that
/// requests are split across reads (a moving connection carries a partial
/// request along), and checks every reply is the next count.
fn incr_batch(c: &mut RawClient, key: &str, batch: usize, count: &mut i64) {
    let one = format!("*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n", key.len());
    let bytes = one.repeat(batch).into_bytes();
    for piece in bytes.chunks(37) {
        c.send_raw(piece);
    }
    for _ in 0..batch {
        *count += 1;
        assert_eq!(c.read(), Value::Int(*count), "a reply was lost, duplicated or reordered on {key}");
    }
}

const RUN: u8 = 0;
const CALM: u8 = 1;
const STOP: u8 = 2;

#[test]
fn busy_workers_spread_and_calm_ones_pack_without_losing_a_reply() {
    // A low spread threshold, so the test's load is enough on any machine,
    // and no idle CPU asked for, since the test's own threads use the rest.
    let server = ServerProcess::shoal(&[
        "--threads",
        "2",
        "--worker-spread-pct",
        "5",
        "--worker-pack-pct",
        "5",
        "--worker-spread-idle-pct",
        "0",
    ]);
    let phase = Arc::new(AtomicU8::new(RUN));
    let loaders: Vec<_> = (0..4)
        .map(|i| {
            let (port, phase) = (server.port, phase.clone());
            thread::spawn(move || {
                let mut c = RawClient::connect(port).unwrap();
                let key = format!("counter:{i}");
                let mut count = 0;
                loop {
                    match phase.load(Ordering::Relaxed) {
                        RUN => incr_batch(&mut c, &key, 50, &mut count),
                        CALM => {
                            incr_batch(&mut c, &key, 1, &mut count);
                            thread::sleep(Duration::from_millis(20));
                        }
                        _ => break,
                    }
                }
                assert_eq!(c.call(&[b"GET", key.as_bytes()]), Value::Bulk(count.to_string().into_bytes()));
                count
            })
        })
        .collect();
    let mut admin = server.client();
    wait_until("the busy worker spreads its connections", || {
        let info = workers_info(&mut admin);
        info["workers_active"] == "2" && clients_of(&info, 1) > 0
    });
    phase.store(CALM, Ordering::Relaxed);
    // Calm load: the two workers' CPU fits in one.
    assert_eq!(admin.cmd("CONFIG SET worker-pack-pct 100"), simple("OK"));
    assert_eq!(admin.cmd("CONFIG SET worker-spread-pct 100"), simple("OK"));
    wait_until("the calm connections pack onto one worker", || {
        let info = workers_info(&mut admin);
        info["workers_active"] == "1" && clients_of(&info, 1) == 0
    });
    phase.store(STOP, Ordering::Relaxed);
    let total: i64 = loaders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(total > 0);
    let info = workers_info(&mut admin);
    let moves: u64 = info["connection_moves"].parse().unwrap();
    assert!(moves >= 2, "connections moved out and back: {info:?}");
}

#[test]
fn without_packing_connections_stay_round_robin() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    let mut a = server.client();
    let mut b = server.client();
    assert_eq!(a.cmd("PING"), simple("PONG"));
    assert_eq!(b.cmd("PING"), simple("PONG"));
    let info = workers_info(&mut a);
    assert_eq!((clients_of(&info, 0), clients_of(&info, 1)), (1, 1), "{info:?}");
    assert_eq!(info["worker_packing"], "no");
}
