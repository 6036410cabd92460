//! Pub/Sub and MONITOR: replies byte for byte as redis-server's, delivery
//! across worker threads in publish order, output limits for subscribers
//! that do not read, pushes to blocked RESP3 clients.

mod support;

use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{bulk, simple, RawClient, ServerProcess};

/// Sends each command to both servers and compares the next `replies`
/// replies byte for byte. A line is "<replies> <command words>"; "x" for
/// the count reads one reply without comparing it (HELLO shows client ids).
fn compare_session(script: &str) {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let (mut r, mut s) = (redis.client(), shoal.client());
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (count, command) = line.split_once(' ').unwrap();
        let words: Vec<&[u8]> = command.split(' ').map(|w| w.as_bytes()).collect();
        r.send(&words);
        s.send(&words);
        if count == "x" {
            (r.read_raw(), s.read_raw());
            continue;
        }
        for _ in 0..count.parse::<usize>().unwrap() {
            let (expected, got) = (r.read_raw(), s.read_raw());
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "{command}");
        }
    }
}

#[test]
fn subscribed_context_replies_like_redis_in_resp2() {
    compare_session(
        "1 UNSUBSCRIBE
         1 PUNSUBSCRIBE
         1 SUNSUBSCRIBE
         2 SUBSCRIBE a b
         1 SUBSCRIBE a
         1 PSUBSCRIBE h?llo
         1 PING
         1 PING hi
         1 GET k
         1 CLIENT LIST
         1 MULTI
         1 SSUBSCRIBE s1
         1 PUBSUB NUMSUB a b c
         2 UNSUBSCRIBE a zz
         1 UNSUBSCRIBE
         1 PUNSUBSCRIBE
         1 SUNSUBSCRIBE
         1 PING
         1 PUBSUB NUMPAT
         1 PUBSUB CHANNELS x y
         1 PUBLISH nobody message",
    );
}

#[test]
fn pushes_reply_like_redis_in_resp3() {
    compare_session(
        "x HELLO 3
         2 SUBSCRIBE a b
         1 PSUBSCRIBE a*
         1 GET k
         3 PUBLISH a self
         1 PUBSUB NUMSUB a b
         1 PUBSUB SHARDNUMSUB a
         1 SSUBSCRIBE s1
         2 SPUBLISH s1 shard
         1 PING
         1 UNSUBSCRIBE b
         1 UNSUBSCRIBE
         1 PUNSUBSCRIBE
         1 SUNSUBSCRIBE s1
         1 UNSUBSCRIBE
         1 MULTI
         1 SSUBSCRIBE s2
         1 SUBSCRIBE c
         1 EXEC",
    );
}

#[test]
fn client_reply_off_still_delivers_pushes() {
    compare_session(
        "x HELLO 3
         0 CLIENT REPLY OFF
         1 SUBSCRIBE ch
         1 PUBLISH ch message
         1 UNSUBSCRIBE ch
         1 CLIENT REPLY ON
         1 SET after on",
    );
}

/// Reads a message push/array and returns its elements as byte strings.
fn message(client: &mut RawClient) -> Vec<Vec<u8>> {
    match client.read() {
        Value::Array(items) | Value::Push(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Bulk(b) => b,
                other => panic!("unexpected element {other:?}"),
            })
            .collect(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn publishers_on_different_workers_deliver_in_order_to_every_subscriber() {
    const PER_PUBLISHER: usize = 3000;
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    // Round-robin placement: subscribers and publishers alternate workers.
    let mut subscribers: Vec<RawClient> = (0..4).map(|_| server.client()).collect();
    for (i, sub) in subscribers.iter_mut().enumerate() {
        if i % 2 == 0 {
            sub.send(&[b"SUBSCRIBE", b"news"]);
        } else {
            sub.send(&[b"PSUBSCRIBE", b"n*s"]);
        }
        sub.read();
    }
    let publishers: Vec<_> = (0..2)
        .map(|p| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut client = RawClient::connect(port).unwrap();
                for seq in 0..PER_PUBLISHER {
                    let text = format!("{p}:{seq}");
                    client.send(&[b"PUBLISH", b"news", text.as_bytes()]);
                }
                for _ in 0..PER_PUBLISHER {
                    assert_eq!(client.read(), Value::Int(4), "every subscriber receives every message");
                }
            })
        })
        .collect();
    for (i, sub) in subscribers.iter_mut().enumerate() {
        let mut next = [0usize; 2];
        for _ in 0..2 * PER_PUBLISHER {
            let parts = message(sub);
            let text = String::from_utf8(parts.last().unwrap().clone()).unwrap();
            let (publisher, seq) = text.split_once(':').unwrap();
            let (publisher, seq): (usize, usize) = (publisher.parse().unwrap(), seq.parse().unwrap());
            assert_eq!(seq, next[publisher], "subscriber {i}: publisher {publisher}'s messages out of order");
            next[publisher] += 1;
        }
        assert_eq!(next, [PER_PUBLISHER; 2]);
    }
    for publisher in publishers {
        publisher.join().unwrap();
    }
}

/// Reads until the server closes the connection; returns the bytes read.
fn drain_until_closed(client: &mut RawClient) -> usize {
    use std::io::Read;
    client.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match client.stream.read(&mut chunk) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("connection still open after {total} bytes: {e}"),
        }
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_subscriber_that_never_reads_is_closed_at_its_limit_and_memory_stays_bounded() {
    let server = ServerProcess::shoal(&["--client-output-buffer-limit", "pubsub 4mb 0 0"]);
    let mut lazy = server.client();
    lazy.send(&[b"SUBSCRIBE", b"firehose"]);
    lazy.read();
    let mut reader = server.client();
    reader.send(&[b"SUBSCRIBE", b"firehose"]);
    reader.read();
    let payload = vec![b'x'; 64 * 1024];
    // 256 MB in all: far beyond the lazy subscriber's limit and socket buffers.
    let total = 4096;
    // The reader reports progress; the publisher never gets more than
    // 16 messages (1 MB) ahead of it, so only the lazy one passes 4 MB.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = received.clone();
    let reading = std::thread::spawn(move || {
        for _ in 0..total {
            assert_eq!(message(&mut reader)[2].len(), 64 * 1024);
            progress.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    });
    let rss_before = rss_bytes(server.pid());
    let mut publisher = server.client();
    for sent in 0..total {
        while sent >= received.load(std::sync::atomic::Ordering::Acquire) + 16 {
            // A reader that stopped (closed by the server) fails below.
            if reading.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        publisher.send(&[b"PUBLISH", b"firehose", &payload]);
        let _ = publisher.read();
    }
    let peak = rss_bytes(server.pid());
    assert!(
        peak < rss_before + 96 * 1024 * 1024,
        "RSS grew from {rss_before} to {peak} bytes with one subscriber not reading"
    );
    // What reached the lazy subscriber before it was closed: its socket
    // buffers and at most its limit, then the end of the stream.
    let delivered = drain_until_closed(&mut lazy);
    assert!(delivered < 64 * 1024 * 1024, "the subscriber over its pubsub limit was not disconnected ({delivered} bytes)");
    // The subscriber that reads was never over its limit: it got everything.
    reading.join().expect("the subscriber that reads got every message");
}

#[test]
fn a_resp3_client_blocked_in_blpop_receives_pushes_then_its_reply() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    let mut blocked = server.client();
    blocked.cmd("HELLO 3");
    blocked.send(&[b"SUBSCRIBE", b"alerts"]);
    blocked.read();
    blocked.send(&[b"BLPOP", b"queue", b"0"]);
    let mut other = server.client();
    support::wait_blocked(&mut other, 1);
    assert_eq!(other.cmd("PUBLISH alerts first"), Value::Int(1));
    assert_eq!(message(&mut blocked), [b"message".to_vec(), b"alerts".to_vec(), b"first".to_vec()]);
    assert_eq!(other.cmd("RPUSH queue item"), Value::Int(1));
    assert_eq!(blocked.read(), Value::Array(vec![bulk("queue"), bulk("item")]));
}

#[test]
fn monitor_shows_each_command_once_with_secrets_redacted() {
    let server = ServerProcess::shoal(&[]);
    let mut monitor = server.client();
    assert_eq!(monitor.cmd("MONITOR"), simple("OK"));
    let mut client = server.client();
    client.cmd("SET foo bar");
    client.cmd("AUTH not-a-password");
    client.cmd("SELECT 3");
    client.cmd("MULTI");
    client.call(&[b"SET", b"quote\"d", b"a\x01\nb"]);
    client.cmd("EXEC");
    client.cmd("CONFIG GET maxmemory");
    client.cmd("GET foo");
    let expected = [
        r#"[0 *] "SET" "foo" "bar""#,
        r#"[0 *] "AUTH" "(redacted)""#,
        r#"[3 *] "SELECT" "3""#,
        r#"[3 *] "MULTI""#,
        r#"[3 *] "SET" "quote\"d" "a\x01\nb""#,
        r#"[3 *] "EXEC""#,
        r#"[3 *] "GET" "foo""#,
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    for want in expected {
        let Value::Simple(line) = monitor.read() else { panic!("MONITOR lines are status replies") };
        let line = String::from_utf8(line).unwrap();
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.parse::<f64>().is_ok(), "timestamp in {line}");
        let (origin, args) = rest.split_once("] ").unwrap();
        let (db, _peer) = origin.trim_start_matches('[').split_once(' ').unwrap();
        let got = format!("[{db} *] {args}");
        assert_eq!(got, want, "CONFIG (admin) must not be shown; line was {line}");
        assert!(Instant::now() < deadline);
    }
}

#[test]
fn keyspace_events_of_a_clients_own_write_precede_its_reply_like_redis() {
    compare_session(
        "x HELLO 3
         1 CONFIG SET notify-keyspace-events KEA
         1 SUBSCRIBE __keyevent@0__:set
         1 PSUBSCRIBE __keyspace@0__:*
         3 SET k v
         5 MSET k v2 other x
         1 GET k",
    );
}

#[test]
fn client_caching_yes_covers_a_whole_transaction_like_redis() {
    // OPTIN: CLIENT CACHING yes before MULTI tracks every read of the
    // transaction (Redis clears the flag once EXEC is done), so writing
    // either key invalidates it. The counts keep both servers' streams
    // aligned even if one misses an invalidation, so a difference shows
    // as a mismatch, not a wait.
    compare_session(
        "x HELLO 3
         1 CLIENT TRACKING on OPTIN
         1 CLIENT CACHING yes
         1 MULTI
         1 GET a
         1 GET b
         1 EXEC
         2 SET a 1
         1 SET b 1
         1 PING
         1 PING
         1 GET a
         1 SET a 2
         1 PING",
    );
}

#[test]
fn tracking_invalidations_reach_clients_on_other_workers_after_the_writers_reply() {
    let server = ServerProcess::shoal(&["--threads", "2", "--worker-packing", "no"]);
    // Round robin: the redirect target and the RESP3 tracker sit on
    // different workers from the writer.
    let mut target = server.client();
    let mut tracker = server.client();
    let mut writer = server.client();
    let Value::Int(target_id) = target.cmd("CLIENT ID") else { panic!() };
    target.cmd("SUBSCRIBE __redis__:invalidate");
    let redirect = format!("CLIENT TRACKING on REDIRECT {target_id}");
    let mut redirected = server.client();
    assert_eq!(redirected.cmd(&redirect), simple("OK"));
    tracker.cmd("HELLO 3");
    assert_eq!(tracker.cmd("CLIENT TRACKING on"), simple("OK"));
    writer.cmd("MSET a 1 b 2");
    assert_eq!(redirected.cmd("GET a"), bulk("1"));
    assert_eq!(tracker.cmd("MGET a b"), Value::Array(vec![bulk("1"), bulk("2")]));
    // The tracker's own write: its reply first, then its invalidation.
    tracker.send(&[b"SET", b"b", b"3"]);
    assert_eq!(tracker.read(), simple("OK"));
    let Value::Push(parts) = tracker.read() else { panic!("RESP3 invalidation is a push") };
    assert_eq!(parts, vec![bulk("invalidate"), Value::Array(vec![bulk("b")])]);
    assert_eq!(writer.cmd("SET a 2"), simple("OK"));
    let Value::Push(parts) = tracker.read() else { panic!("RESP3 invalidation is a push") };
    assert_eq!(parts, vec![bulk("invalidate"), Value::Array(vec![bulk("a")])]);
    let Value::Array(parts) = target.read() else { panic!("RESP2 invalidation is a pubsub message") };
    assert_eq!(parts, vec![bulk("message"), bulk("__redis__:invalidate"), Value::Array(vec![bulk("a")])]);
    // Nothing is sent twice: the key left the table.
    assert_eq!(writer.cmd("SET a 3"), simple("OK"));
    assert_eq!(tracker.cmd("PING"), simple("PONG"));
}
