//! Protocol handling over TCP: pipelining, inline commands, RESP3, and bad
//! input. Malformed requests get Redis's error and a closed connection;
//! the server keeps serving everyone else, and lengths a client merely
//! claims cost no memory.

mod support;

use std::io::Write;
use std::time::Duration;

use shoal_resp::Value;
use support::{bulk, error, simple, RawClient, ServerProcess};

fn used_memory(client: &mut RawClient) -> i64 {
    let info = client.cmd("INFO memory");
    let text = String::from_utf8(info.as_bytes().unwrap().to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

#[test]
fn malformed_requests_get_redis_errors_and_are_disconnected() {
    let server = ServerProcess::shoal(&[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "ERR Protocol error: expected '$', got 'f'"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'"),
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"set \"\"\"test-key\"\"\" test-value\r\n", "ERR Protocol error: unbalanced quotes in request"),
    ];
    for (input, message) in cases {
        let mut client = server.client();
        client.send_raw(input);
        assert_eq!(client.read(), error(message), "input {:?}", String::from_utf8_lossy(input));
        assert!(client.closed(), "connection left open after {:?}", String::from_utf8_lossy(input));
    }
    assert_eq!(server.client().cmd("PING"), simple("PONG"));
}

#[test]
fn oversized_lines_are_refused() {
    let server = ServerProcess::shoal(&[]);
    for (prefix, message) in [
        (&b""[..], "ERR Protocol error: too big inline request"),
        (&b"*"[..], "ERR Protocol error: too big mbulk count string"),
        (&b"*1\r\n$"[..], "ERR Protocol error: too big bulk count string"),
    ] {
        let mut client = server.client();
        let mut input = prefix.to_vec();
        input.extend(std::iter::repeat_n(b'1', 70 * 1024));
        client.send_raw(&input);
        assert_eq!(client.read(), error(message));
        assert!(client.closed());
    }
}

#[test]
fn garbage_never_takes_the_server_down() {
    let mut server = ServerProcess::shoal(&[]);
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut client = server.client();
        let len = (next() % 4096) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias some rounds towards RESP-looking garbage.
        if round % 3 == 0 {
            bytes.splice(0..0, b"*2\r\n$4\r\n".iter().copied());
        }
        let _ = client.stream.write_all(&bytes);
        client.stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        drop(client);
        if round % 20 == 0 {
            assert_eq!(server.client().cmd("PING"), simple("PONG"), "round {round}");
        }
    }
    assert!(server.alive());
    assert_eq!(server.client().cmd("PING"), simple("PONG"));
}

#[test]
fn claimed_but_unsent_bulks_cost_no_memory() {
    let server = ServerProcess::shoal(&[]);
    let mut probe = server.client();
    let before = used_memory(&mut probe);
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut c = server.client();
        c.send_raw(b"*1\r\n$536870912\r\nabc");
        hogs.push(c);
    }
    // A claimed 2-billion-argument request must not reserve anything either.
    let mut many = server.client();
    many.send_raw(b"*2147483647\r\n$3\r\nSET\r\n");
    hogs.push(many);
    // Let the server read what was sent.
    assert_eq!(probe.cmd("PING"), simple("PONG"));
    std::thread::sleep(Duration::from_millis(200));
    let after = used_memory(&mut probe);
    assert!(
        after - before < 4 * 1024 * 1024,
        "used_memory grew by {} bytes for 5 claimed-but-unsent requests",
        after - before
    );
    drop(hogs);
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = ServerProcess::shoal(&["--client-query-buffer-limit", "1mb"]);
    let mut client = server.client();
    client.send_raw(b"*2\r\n$3\r\nGET\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        if client.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    assert!(client.closed(), "a client past client-query-buffer-limit must be closed");
    assert_eq!(server.client().cmd("PING"), simple("PONG"));
}

#[test]
fn pipelines_and_inline_commands() {
    let server = ServerProcess::shoal(&[]);
    let mut client = server.client();
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$5\r\nk{:04}\r\n$1\r\n{}\r\n", i, i % 10).as_bytes());
    }
    batch.extend_from_slice(b"GET k0007\r\n\r\nPING hello\r\n");
    client.send_raw(&batch);
    for _ in 0..1000 {
        assert_eq!(client.read(), simple("OK"));
    }
    assert_eq!(client.read(), bulk("7"));
    assert_eq!(client.read(), bulk("hello"));
    client.send_raw(b"set quoted \"a\\x41\\nb\"\r\nget quoted\r\n");
    assert_eq!(client.read(), simple("OK"));
    assert_eq!(client.read(), Value::Bulk(b"aA\nb".to_vec()));
}

#[test]
fn a_request_split_into_single_bytes_still_parses() {
    let server = ServerProcess::shoal(&[]);
    let mut client = server.client();
    let request = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    for byte in request.iter() {
        client.send_raw(&[*byte]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(client.read(), simple("OK"));
    assert_eq!(client.cmd("GET key"), bulk("value"));
}

#[test]
fn resp3_replies_after_hello() {
    let server = ServerProcess::shoal(&[]);
    let mut client = server.client();
    let hello = client.cmd("HELLO 3");
    let Value::Map(fields) = hello else { panic!("HELLO 3 replies with a map") };
    assert!(fields.contains(&(bulk("proto"), Value::Int(3))));
    assert_eq!(client.cmd("GET missing"), Value::Null);
    client.send_raw(b"*2\r\n$5\r\nDEBUG\r\n$1\r\nx\r\n");
    // DEBUG is refused without enable-debug-command.
    assert!(matches!(client.read(), Value::Error(_)));
    assert_eq!(client.cmd("HELLO 4"), error("NOPROTO unsupported protocol version"));
    let hello2 = client.cmd("HELLO 2");
    assert!(matches!(hello2, Value::Array(_)));
}

#[test]
fn unauthenticated_clients_get_small_limits() {
    let server = ServerProcess::shoal(&["--requirepass", "secret"]);
    let mut client = server.client();
    assert_eq!(client.cmd("GET x"), error("NOAUTH Authentication required."));
    client.send_raw(b"*11\r\n");
    assert_eq!(client.read(), error("ERR Protocol error: unauthenticated multibulk length"));
    let mut client = server.client();
    client.send_raw(b"*1\r\n$16385\r\n");
    assert_eq!(client.read(), error("ERR Protocol error: unauthenticated bulk length"));
    let mut client = server.client();
    assert_eq!(client.cmd("AUTH wrong"), error("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(client.cmd("AUTH secret"), simple("OK"));
    assert_eq!(client.cmd("SET x 1"), simple("OK"));
}

/// A long pipeline of mixed requests (many keys, hash tags, SELECT and
/// MULTI in the middle, inline requests, errors), written in pieces of
/// varying size so requests straddle reads: Shoal replies byte for byte as
/// redis-server does, whether it prefetches the keys of a batch (default,
/// and up to 128 requests) or not. A wrong key location passed from the
/// reading ahead to the command would show as a wrong reply or an
/// internal error here.
#[test]
fn pipelined_batches_reply_like_redis_with_and_without_prefetch() {
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let encode = |args: &[String]| {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        out
    };
    for _ in 0..3000 {
        let key = match next(4) {
            0 => format!("{{tag}}k{}", next(20)),
            1 => String::new(),
            _ => format!("key:{}", next(300)),
        };
        let other = format!("key:{}", next(300));
        let words: Vec<String> = match next(20) {
            0 => vec!["SELECT".into(), next(3).to_string()],
            1 => vec!["MSET".into(), key.clone(), "a".into(), other.clone(), "b".into()],
            2 => vec!["MGET".into(), key.clone(), other.clone(), "{tag}k1".into()],
            3 => vec!["DEL".into(), key.clone(), other],
            4 => vec!["INCR".into(), key.clone()],
            5 => vec!["APPEND".into(), key.clone(), "xyz".repeat(next(50) as usize)],
            6 => vec!["LPUSH".into(), key.clone(), "e".into()],
            7 => vec!["MULTI".into()],
            8 => vec!["EXEC".into()],
            9 => vec!["GET".into()],
            10 => vec!["NOSUCHCOMMAND".into(), key.clone()],
            11 => {
                requests.push(format!("GET {}\r\n", if key.is_empty() { "x" } else { &key }).into_bytes());
                continue;
            }
            12 => vec!["EXISTS".into(), key.clone(), key.clone()],
            13 => vec!["RENAME".into(), key.clone(), "{tag}dest".into()],
            14 | 15 => vec!["SET".into(), key.clone(), "v".repeat(next(2000) as usize)],
            _ => vec!["GET".into(), key.clone()],
        };
        requests.push(encode(&words));
    }
    requests.push(encode(&["EXEC".into()]));
    let stream: Vec<u8> = requests.concat();
    let mut cuts = vec![0, stream.len()];
    for _ in 0..200 {
        cuts.push(next(stream.len() as u64) as usize);
    }
    cuts.sort_unstable();

    let run = |server: &ServerProcess| -> Vec<Vec<u8>> {
        let mut client = server.client();
        let mut writer = client.stream.try_clone().unwrap();
        let (pieces, data) = (cuts.clone(), stream.clone());
        let sender = std::thread::spawn(move || {
            for w in pieces.windows(2) {
                writer.write_all(&data[w[0]..w[1]]).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let replies = (0..requests.len()).map(|_| client.read_raw()).collect();
        sender.join().unwrap();
        replies
    };
    let expected = run(&ServerProcess::redis(&[]));
    for size in ["16", "128", "0"] {
        let got = run(&ServerProcess::shoal(&["--prefetch-batch-max-size", size]));
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(e),
                "reply {i} with prefetch-batch-max-size {size}: {}",
                String::from_utf8_lossy(&requests[i])
            );
        }
    }
}

/// Sends `requests` (without reading) from one thread while the test
/// thread waits, then reads `replies` replies of `reply_len` bytes each.
/// Returns false when the writer could not finish: the server stopped
/// reading because the client was not reading its replies.
fn pipeline_without_reading(port: u16, requests: Vec<u8>, replies: usize, reply_len: usize) -> bool {
    let mut writer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reader = writer.try_clone().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        // Fails only when the guard below shut the socket down.
        if writer.write_all(&requests).is_ok() {
            let _ = done.send(());
        }
        writer
    });
    // A hang guard, not a timing assertion: the writer needs well under a
    // second on either server; stuck, it would wait forever.
    if finished.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = reader.shutdown(std::net::Shutdown::Both);
        let _ = sender.join();
        return false;
    }
    let _writer = sender.join().expect("the writer thread");
    let mut left = replies * reply_len;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let n = std::io::Read::read(&mut reader, &mut buf).unwrap();
        assert!(n > 0, "connection closed with {left} reply bytes unread");
        left = left.checked_sub(n).expect("more reply bytes than requested");
    }
    true
}

#[test]
fn a_client_that_sends_everything_before_reading_is_served_like_redis() {
    // 24 MB of GETs whose 107 MB of replies stay unread until the last
    // request is sent: more than the socket buffers hold either way. Redis
    // keeps reading and buffers the replies (the normal class has no output
    // limit by default), as a client library sending a whole pipeline
    // before reading it expects.
    const GETS: usize = 1_000_000;
    let value = "v".repeat(100);
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    let reply_len = format!("${}\r\n{}\r\n", value.len(), value).len();
    for server in [ServerProcess::redis(&[]), ServerProcess::shoal(&[])] {
        let mut client = server.client();
        assert_eq!(client.cmd(&format!("SET key {value}")), simple("OK"));
        let requests = request.repeat(GETS);
        let served = pipeline_without_reading(server.port, requests, GETS, reply_len);
        assert!(served, "port {}: the server stopped reading a client that sent before reading", server.port);
        assert_eq!(client.cmd("GET key"), bulk(&value), "the server still answers afterwards");
    }
}
