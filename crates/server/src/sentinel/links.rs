//! Links to monitored instances and to other sentinels: one task per link, owning a
//! command connection and, for masters and replicas, a second connection subscribed to
//! `__sentinel__:hello`. Commands the machine sends arrive on a channel; replies, hellos
//! and the link's end go back to the main loop as `Input`s. A command the machine sends
//! as one (a promotion's MULTI ... EXEC) is answered by one reply.

use std::collections::VecDeque;
use std::time::Duration;

use shoal_resp::{parse_value, Value};
use shoal_sentinel::{Addr, Command, Input, IsMasterDownReply, LinkId, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// The channel sentinels publish their hellos on.
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// How long opening a connection may take before the link counts as broken.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// After the subscribed connection broke and could not be opened again, the next try.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// Everything a link task needs to know, decided when the machine asked for it.
pub struct LinkSetup {
    pub link: LinkId,
    pub addr: Addr,
    pub subscribe: bool,
    /// `AUTH [user] pass` sent first on each connection.
    pub auth: Option<(Option<String>, String)>,
    /// `rename-command` of the master the instance belongs to.
    pub renames: Vec<(String, String)>,
    /// `sentinel-<first 8 of myid>`; connections are named `<it>-cmd` and `<it>-pubsub`.
    pub client_name: String,
}

/// What a reply on the command connection is for.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// AUTH, CLIENT SETNAME, and the parts of a transaction before its EXEC.
    Skip,
    Ping,
    Info,
    Publish,
    MasterDown,
    Done,
}

/// Runs one link until it breaks or its task is aborted (the machine closed it).
pub async fn run(setup: LinkSetup, inputs: UnboundedSender<Input>, mut commands: UnboundedReceiver<Command>) {
    let _ = body(&setup, &inputs, &mut commands).await;
    let _ = inputs.send(Input::Disconnected(setup.link));
}

async fn connect(addr: &Addr) -> std::io::Result<TcpStream> {
    let target = format!("{}:{}", addr.host, addr.port);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

impl LinkSetup {
    /// A command's name after `rename-command`.
    fn name<'a>(&'a self, command: &'a str) -> &'a str {
        self.renames.iter().find(|(from, _)| from.eq_ignore_ascii_case(command)).map_or(command, |(_, to)| to.as_str())
    }

    fn send(&self, out: &mut Vec<u8>, args: &[&str]) {
        let mut words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        words[0] = self.name(args[0]).as_bytes();
        encode(out, &words);
    }

    /// AUTH and CLIENT SETNAME at the start of a connection.
    fn greet(&self, out: &mut Vec<u8>, expect: &mut VecDeque<Expect>, kind: &str) {
        if let Some((user, pass)) = &self.auth {
            match user {
                Some(user) => self.send(out, &["AUTH", user, pass]),
                None => self.send(out, &["AUTH", pass]),
            }
            expect.push_back(Expect::Skip);
        }
        let name = format!("{}-{kind}", self.client_name);
        self.send(out, &["CLIENT", "SETNAME", &name]);
        expect.push_back(Expect::Skip);
    }

    fn command(&self, out: &mut Vec<u8>, expect: &mut VecDeque<Expect>, command: &Command, local_ip: &str) {
        match command {
            Command::Ping => {
                self.send(out, &["PING"]);
                expect.push_back(Expect::Ping);
            }
            Command::Info => {
                self.send(out, &["INFO"]);
                expect.push_back(Expect::Info);
            }
            Command::Hello(hello) => {
                self.send(out, &["PUBLISH", HELLO_CHANNEL, &hello.format(local_ip)]);
                expect.push_back(Expect::Publish);
            }
            Command::IsMasterDownByAddr { addr, epoch, runid } => {
                let (port, epoch) = (addr.port.to_string(), epoch.to_string());
                let runid = runid.as_deref().unwrap_or("*");
                self.send(out, &["SENTINEL", "is-master-down-by-addr", &addr.host, &port, &epoch, runid]);
                expect.push_back(Expect::MasterDown);
            }
            Command::ReplicaOf(target) => {
                self.send(out, &["MULTI"]);
                match target {
                    Some(addr) => self.send(out, &["SLAVEOF", &addr.host, &addr.port.to_string()]),
                    None => self.send(out, &["SLAVEOF", "NO", "ONE"]),
                }
                self.send(out, &["CONFIG", "REWRITE"]);
                self.send(out, &["CLIENT", "KILL", "TYPE", "normal"]);
                self.send(out, &["CLIENT", "KILL", "TYPE", "pubsub"]);
                self.send(out, &["EXEC"]);
                expect.extend([Expect::Skip; 5]);
                expect.push_back(Expect::Done);
            }
            Command::ScriptKill => {
                self.send(out, &["SCRIPT", "KILL"]);
                expect.push_back(Expect::Done);
            }
            Command::Unfence => {
                self.send(out, &["CONFIG", "SET", "master-fenced", "no"]);
                expect.push_back(Expect::Done);
            }
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Simple(b) | Value::Error(b) | Value::Bulk(b) | Value::Verbatim(b) => String::from_utf8_lossy(b).into(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

/// The machine's view of a reply.
fn understood(expect: Expect, value: &Value) -> Option<Reply> {
    Some(match expect {
        Expect::Skip => return None,
        Expect::Ping => Reply::Ping(text(value)),
        Expect::Info => match value {
            Value::Bulk(_) | Value::Verbatim(_) => Reply::Info(text(value)),
            _ => Reply::Done,
        },
        Expect::Publish => Reply::Published(!matches!(value, Value::Error(_))),
        Expect::MasterDown => Reply::MasterDown(match value {
            Value::Array(items) if items.len() == 3 => match (&items[0], &items[1], &items[2]) {
                (Value::Int(down), Value::Bulk(leader), Value::Int(epoch)) => {
                    let leader = String::from_utf8_lossy(leader).into_owned();
                    Some(IsMasterDownReply {
                        down: *down == 1,
                        leader: (leader != "*").then_some(leader),
                        leader_epoch: (*epoch).max(0) as u64,
                    })
                }
                _ => None,
            },
            _ => None,
        }),
        Expect::Done => Reply::Done,
    })
}

/// Reads what is there; false when the connection ended.
async fn fill(reader: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> bool {
    matches!(reader.read_buf(buf).await, Ok(n) if n > 0)
}

/// The complete values at the start of `buf`, removed from it; None on a protocol error.
fn values(buf: &mut Vec<u8>) -> Option<Vec<Value>> {
    let mut found = Vec::new();
    let mut used = 0;
    loop {
        match parse_value(&buf[used..]) {
            Ok(Some((value, n))) => {
                found.push(value);
                used += n;
            }
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    buf.drain(..used);
    Some(found)
}

/// Opens the connection subscribed to the hello channel; the number is how many replies
/// to the greeting (AUTH, CLIENT SETNAME) come before SUBSCRIBE's.
async fn subscribe(setup: &LinkSetup) -> std::io::Result<(OwnedReadHalf, OwnedWriteHalf, usize)> {
    let stream = connect(&setup.addr).await?;
    let (r, mut w) = stream.into_split();
    let mut out = Vec::new();
    let mut ignored = VecDeque::new();
    setup.greet(&mut out, &mut ignored, "pubsub");
    setup.send(&mut out, &["SUBSCRIBE", HELLO_CHANNEL]);
    w.write_all(&out).await?;
    Ok((r, w, ignored.len()))
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads on the subscribed connection, or waits forever when there is none.
async fn maybe_fill(reader: &mut Option<OwnedReadHalf>, buf: &mut Vec<u8>) -> bool {
    match reader {
        Some(reader) => fill(reader, buf).await,
        None => std::future::pending().await,
    }
}

async fn body(
    setup: &LinkSetup,
    inputs: &UnboundedSender<Input>,
    commands: &mut UnboundedReceiver<Command>,
) -> std::io::Result<()> {
    let stream = connect(&setup.addr).await?;
    let local_ip = stream.local_addr()?.ip().to_string();
    let (mut reader, mut writer): (OwnedReadHalf, OwnedWriteHalf) = stream.into_split();
    let mut expect = VecDeque::new();
    let mut out = Vec::new();
    setup.greet(&mut out, &mut expect, "cmd");
    writer.write_all(&out).await?;
    let mut sub_reader = None;
    let mut _sub_writer = None;
    // Greeting replies still due on the subscribed connection: an error among them (a
    // failed AUTH leaves the default user) is no reason to give up the subscription.
    let mut greeting_replies = 0;
    if setup.subscribe {
        let (r, w, greeting) = subscribe(setup).await?;
        sub_reader = Some(r);
        _sub_writer = Some(w);
        greeting_replies = greeting;
    }
    // When the subscribed connection breaks (a promotion's CLIENT KILL TYPE pubsub ends
    // it), it alone is opened again, as redis-sentinel reopens only its pubsub context:
    // the command connection keeps its pending replies (the INFO that shows the
    // promotion).
    let mut resubscribe_at: Option<tokio::time::Instant> = None;
    if inputs.send(Input::Connected(setup.link)).is_err() {
        return Ok(());
    }
    let link = setup.link;
    let (mut cmd_buf, mut sub_buf) = (Vec::with_capacity(4096), Vec::with_capacity(1024));
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { return Ok(()) };
                let mut out = Vec::new();
                setup.command(&mut out, &mut expect, &command, &local_ip);
                // Whatever else is queued goes in the same write.
                while let Ok(command) = commands.try_recv() {
                    setup.command(&mut out, &mut expect, &command, &local_ip);
                }
                writer.write_all(&out).await?;
            }
            alive = fill(&mut reader, &mut cmd_buf) => {
                if !alive {
                    return Ok(());
                }
                let Some(replies) = values(&mut cmd_buf) else { return Ok(()) };
                for value in replies {
                    let Some(kind) = expect.pop_front() else { continue };
                    if let Some(reply) = understood(kind, &value) {
                        let _ = inputs.send(Input::Reply(link, reply));
                    }
                }
            }
            _ = sleep_until(resubscribe_at) => {
                match subscribe(setup).await {
                    Ok((r, w, greeting)) => {
                        sub_reader = Some(r);
                        _sub_writer = Some(w);
                        greeting_replies = greeting;
                        resubscribe_at = None;
                    }
                    Err(_) => resubscribe_at = Some(tokio::time::Instant::now() + RESUBSCRIBE_DELAY),
                }
            }
            alive = maybe_fill(&mut sub_reader, &mut sub_buf) => {
                let mut messages = if alive { values(&mut sub_buf) } else { None };
                if let Some(list) = messages.as_mut() {
                    let greeting = greeting_replies.min(list.len());
                    list.drain(..greeting);
                    greeting_replies -= greeting;
                }
                // An error reply to SUBSCRIBE (-NOAUTH, -NOPERM) ends the subscription as a
                // broken connection does; it is tried again a second later.
                let refused = messages.as_ref().is_some_and(|m| m.iter().any(|v| matches!(v, Value::Error(_))));
                let Some(messages) = messages.filter(|_| !refused) else {
                    sub_reader = None;
                    _sub_writer = None;
                    sub_buf.clear();
                    let delay = if refused { RESUBSCRIBE_DELAY } else { Duration::ZERO };
                    resubscribe_at = Some(tokio::time::Instant::now() + delay);
                    let _ = inputs.send(Input::Unsubscribed(link));
                    continue;
                };
                for message in messages {
                    if let Value::Array(items) | Value::Push(items) = &message {
                        let kind = items.first().map(text).unwrap_or_default();
                        if items.len() == 3 && kind == "message" && text(&items[1]) == HELLO_CHANNEL {
                            let _ = inputs.send(Input::Hello(link, text(&items[2])));
                        } else if kind == "subscribe" {
                            let _ = inputs.send(Input::Subscribed(link));
                        }
                    }
                }
            }
        }
    }
}
