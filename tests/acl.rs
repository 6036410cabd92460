//! ACL users against redis-server 7.0 side by side (rules, ACL LIST and
//! GETUSER texts, -NOPERM errors), and enforcement: keys by read/write
//! permission, channels, MULTI/EXEC, scripts, disconnection of a deleted
//! user's connections, ACL LOG, errorstats, the ACL file.

mod support;

use shoal_resp::Value;
use support::{bulk, compare_script_with_redis, error, simple, unordered, Pair, RawClient, ServerProcess};

/// ACL LIST's lines with the single-command rules after the categories
/// sorted: redis-server emits those in its command dictionary's order,
/// which changes from one process to the next.
fn canonical(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line).into_owned();
    let mut out: Vec<String> = Vec::new();
    let mut singles: Vec<String> = Vec::new();
    for word in text.split(' ') {
        let single = (word.starts_with('+') || word.starts_with('-')) && !word[1..].starts_with('@');
        if single {
            singles.push(word.to_string());
            continue;
        }
        singles.sort();
        out.append(&mut singles);
        out.push(word.to_string());
    }
    singles.sort();
    out.append(&mut singles);
    out.join(" ")
}

/// EVAL with the script as one argument.
fn eval(c: &mut RawClient, script: &str, rest: &[&str]) -> Value {
    let mut args: Vec<&[u8]> = vec![b"EVAL", script.as_bytes()];
    args.extend(rest.iter().map(|a| a.as_bytes()));
    c.call(&args)
}

/// A Shoal server, an admin connection (default user) and a connection
/// logged in as `name` with password `pw`, created with `rules`.
fn logged_in(name: &str, rules: &str) -> (ServerProcess, RawClient, RawClient) {
    let server = ServerProcess::shoal(&[]);
    let mut admin = server.client();
    let mut c = server.client();
    assert_eq!(admin.cmd(&format!("ACL SETUSER {name} on >pw {rules}")), simple("OK"));
    assert_eq!(c.cmd(&format!("AUTH {name} pw")), simple("OK"));
    (server, admin, c)
}

/// A reply's strings joined, for "contains" checks.
fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Error(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn acl_list(c: &mut RawClient) -> Vec<String> {
    match c.cmd("ACL LIST") {
        Value::Array(lines) => lines
            .iter()
            .map(|l| match l {
                Value::Bulk(b) => canonical(b),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The same SETUSER sequences on both servers: the same replies (errors
/// included) and the same ACL LIST.
#[test]
fn setuser_and_list_match_redis() {
    let sequences: &[&[&str]] = &[
        &["ACL SETUSER u"],
        &["ACL SETUSER u on >x ~a* %R~b* %W~c* %RW~d* &ch +@hash -hset (+set ~x*) (+get %R~y*)"],
        &["ACL SETUSER u +@all -@dangerous"],
        &["ACL SETUSER u +@write -@hash"],
        &["ACL SETUSER u +@all -get"],
        &["ACL SETUSER u nocommands +@string +@list -lpush"],
        &["ACL SETUSER u +@all -@write +set"],
        &["ACL SETUSER u +config|get"],
        &["ACL SETUSER u +@admin -config|set"],
        &["ACL SETUSER u +select|0 +select|1"],
        &[
            "ACL SETUSER u on >a >b <a #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "ACL SETUSER u !5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        ],
        &["ACL SETUSER u on nopass allkeys allchannels allcommands", "ACL SETUSER u resetpass resetkeys resetchannels"],
        &["ACL SETUSER u on >p ~* +@all (+get) (+set)", "ACL SETUSER u clearselectors", "ACL SETUSER u reset"],
        &["ACL SETUSER u skip-sanitize-payload", "ACL SETUSER u sanitize-payload off"],
        &["ACL SETUSER u +@all -@all +ping"],
        // Errors: nothing of a failing SETUSER applies.
        &["ACL SETUSER u on +nosuch"],
        &["ACL SETUSER u on +@nosuch"],
        &["ACL SETUSER u ~* ~x"],
        &["ACL SETUSER u &* &x"],
        &["ACL SETUSER u #abc"],
        &["ACL SETUSER u <nothere"],
        &["ACL SETUSER u +config|get|x"],
        &["ACL SETUSER u +select|"],
        &["ACL SETUSER u bogus"],
        &["ACL SETUSER u (+get"],
        &["ACL SETUSER u (+get ~x"],
        &["ACL SETUSER u %X~a"],
        &["ACL SETUSER u (+get) (~x &y -set)"],
        &["ACL SETUSER u on >pw", "ACL SETUSER u <pw", "ACL SETUSER u <pw"],
        &["ACL SETUSER with\x01space on"],
        &["ACL SETUSER u +@all", "ACL SETUSER u +debug|object"],
    ];
    let pair = Pair::start(false);
    let (mut r, mut s) = (pair.redis_client, pair.shoal_client);
    for sequence in sequences {
        for command in *sequence {
            let words: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
            assert_eq!(s.call(&words), r.call(&words), "{command}");
        }
        assert_eq!(acl_list(&mut s), acl_list(&mut r), "after {sequence:?}");
        assert_eq!(
            unordered(getuser_canonical(s.cmd("ACL GETUSER u"))),
            unordered(getuser_canonical(r.cmd("ACL GETUSER u"))),
            "GETUSER after {sequence:?}"
        );
        assert_eq!(s.cmd("ACL DELUSER u"), r.cmd("ACL DELUSER u"));
    }
}

fn getuser_canonical(v: Value) -> Value {
    match v {
        Value::Bulk(b) => Value::Bulk(canonical(&b).into_bytes()),
        Value::Array(items) => Value::Array(items.into_iter().map(getuser_canonical).collect()),
        other => other,
    }
}

#[test]
fn error_texts_match_redis() {
    compare_script_with_redis(
        "ACL SETUSER limited on >pw +get +set +publish +subscribe +psubscribe +multi +exec +acl|whoami %R~r* %W~w* ~rw* &news
        AUTH limited pw
        GET r1
        GET w1
        SET w1 v
        SET r1 v
        GET rw1
        SET rw1 x
        HSET r1 f v
        CONFIG GET port
        PUBLISH news hi
        PUBLISH other hi
        ACL WHOAMI
        AUTH limited wrong
        AUTH nobody pw
        AUTH default x
        MULTI
        SET r2 v
        GET r2
        EXEC
        AUTH default nopass-needs-nothing
        ACL DRYRUN limited get r1
        ACL DRYRUN limited get w1
        ACL DRYRUN limited hset r1 f v
        ACL DRYRUN limited publish other m
        ACL DRYRUN nobody get x
        ACL DRYRUN limited nosuch x
        ACL DRYRUN limited get
        ACL CAT
        ~ ACL CAT hyperloglog
        ACL CAT nosuch
        ACL GENPASS 0
        ACL GENPASS 5000
        ACL GENPASS x
        ACL LOG x
        ACL DELUSER default
        ACL GETUSER nosuch
        ACL LOAD
        ACL SAVE
        ACL HELP
        ACL NOSUCH
        AUTH a b c",
        false,
    );
}

#[test]
fn auth_failure_with_default_nopass_matches_redis() {
    compare_script_with_redis("AUTH x\nAUTH default x\nAUTH default \"\"\nHELLO 2 AUTH bad x\nAUTH bad x", false);
}

/// Every refused command is in ACL LOG with Redis's fields, and INFO
/// errorstats counts NOPERM.
#[test]
fn log_and_errorstats() {
    let (_server, mut admin, mut c) = logged_in("bob", "+get ~k*");
    assert!(matches!(c.cmd("SET k v"), Value::Error(_)));
    assert!(matches!(c.cmd("GET x"), Value::Error(_)));
    assert!(matches!(c.cmd("GET x"), Value::Error(_)));
    c.cmd("AUTH bob wrong");
    let Value::Array(entries) = admin.cmd("ACL LOG") else { panic!() };
    assert_eq!(entries.len(), 3, "{entries:?}");
    let field = |entry: &Value, name: &str| -> Value {
        let Value::Array(fields) = entry else { panic!() };
        let at = fields.iter().position(|f| *f == bulk(name)).unwrap();
        fields[at + 1].clone()
    };
    assert_eq!(field(&entries[0], "reason"), bulk("auth"));
    assert_eq!(field(&entries[0], "object"), bulk("AUTH"));
    assert_eq!(field(&entries[1], "reason"), bulk("key"));
    assert_eq!(field(&entries[1], "object"), bulk("x"));
    assert_eq!(field(&entries[1], "count"), Value::Int(2));
    assert_eq!(field(&entries[1], "username"), bulk("bob"));
    assert_eq!(field(&entries[1], "context"), bulk("toplevel"));
    assert_eq!(field(&entries[2], "reason"), bulk("command"));
    assert_eq!(field(&entries[2], "object"), bulk("set"));
    let Value::Bulk(info) = field(&entries[2], "client-info") else { panic!() };
    assert!(String::from_utf8_lossy(&info).contains("user=bob"));
    let Value::Bulk(stats) = admin.cmd("INFO errorstats") else { panic!() };
    assert!(
        String::from_utf8_lossy(&stats).contains("errorstat_NOPERM:count=3"),
        "{}",
        String::from_utf8_lossy(&stats)
    );
    assert_eq!(admin.cmd("ACL LOG RESET"), simple("OK"));
    assert_eq!(admin.cmd("ACL LOG"), Value::Array(vec![]));
}

#[test]
fn multi_and_exec_check_permissions() {
    let (_server, mut admin, mut c) = logged_in("bob", "+multi +exec +set +get ~*");
    // Refused while queueing: EXEC aborts.
    c.cmd("MULTI");
    assert_eq!(c.cmd("HSET h f v"), error("NOPERM this user has no permissions to run the 'hset' command"));
    assert_eq!(c.cmd("EXEC"), error("EXECABORT Transaction discarded because of previous errors."));
    // Rules changed between queueing and EXEC.
    c.cmd("MULTI");
    assert_eq!(c.cmd("SET a 1"), simple("QUEUED"));
    assert_eq!(c.cmd("GET a"), simple("QUEUED"));
    admin.cmd("ACL SETUSER bob -set");
    let Value::Array(replies) = c.cmd("EXEC") else { panic!() };
    assert_eq!(replies[0], error("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand"));
    assert_eq!(replies[1], Value::Null);
    assert!(text(&admin.cmd("ACL LOG 1")).contains("multi"));
}

#[test]
fn scripts_get_the_refusal() {
    let (_server, mut admin, mut c) = logged_in("bob", "+@scripting +set ~x*");
    assert_eq!(eval(&mut c, "return redis.call('set','x1','v')", &["1", "x1"]), simple("OK"));
    let Value::Error(e) = eval(&mut c, "return redis.call('incr','x1')", &["1", "x1"]) else { panic!() };
    assert!(
        String::from_utf8_lossy(&e)
            .starts_with("ERR The user executing the script can't run this command or subcommand"),
        "{}",
        String::from_utf8_lossy(&e)
    );
    assert_eq!(
        eval(&mut c, "return redis.pcall('set','y','v')['err']", &["0"]),
        bulk("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments")
    );
    assert_eq!(eval(&mut c, "return redis.acl_check_cmd('set','x2','v')", &["0"]), Value::Int(1));
    assert_eq!(eval(&mut c, "return redis.acl_check_cmd('set','y','v')", &["0"]), Value::Null);
    assert_eq!(eval(&mut c, "return redis.acl_check_cmd('hset','x2','f','v')", &["0"]), Value::Null);
    assert!(text(&admin.cmd("ACL LOG 1")).contains("lua"));
}

#[test]
fn script_refusal_text_matches_redis() {
    let pair = Pair::start(false);
    let (mut r, mut s) = (pair.redis_client, pair.shoal_client);
    for c in [&mut r, &mut s] {
        c.cmd("ACL SETUSER bob on >pw +@scripting +set ~x*");
        c.cmd("AUTH bob pw");
    }
    for (script, keys) in
        [("return redis.call('incr','x1')", &["1", "x1"][..]), ("return redis.call('set','y','v')", &["0"][..])]
    {
        let (Value::Error(ours), Value::Error(theirs)) = (eval(&mut s, script, keys), eval(&mut r, script, keys))
        else {
            panic!("{script}")
        };
        let upto = |e: &[u8]| String::from_utf8_lossy(e).split(" script:").next().unwrap().to_string();
        assert_eq!(upto(&ours), upto(&theirs), "{script}");
    }
}

#[test]
fn channels_are_checked_and_revoked_subscribers_disconnected() {
    let server = ServerProcess::shoal(&[]);
    let mut admin = server.client();
    admin.cmd("ACL SETUSER sub on >pw +@pubsub resetchannels &news* &lit");
    let mut c = server.client();
    c.cmd("AUTH sub pw");
    assert_eq!(
        c.cmd("SUBSCRIBE other"),
        error("NOPERM this user has no permissions to access one of the channels used as arguments")
    );
    // A pattern must be allowed literally.
    assert!(matches!(c.cmd("PSUBSCRIBE news*x"), Value::Error(_)));
    let Value::Array(reply) = c.cmd("SUBSCRIBE news1") else { panic!() };
    assert_eq!(reply[0], bulk("subscribe"));
    // Keeping the channel rule keeps the subscriber.
    admin.cmd("ACL SETUSER sub &more");
    assert_eq!(admin.cmd("PUBLISH news1 m"), Value::Int(1));
    let Value::Array(message) = c.read() else { panic!() };
    assert_eq!(message[2], bulk("m"));
    // Revoking it disconnects the subscriber.
    admin.cmd("ACL SETUSER sub resetchannels &lit");
    assert!(c.closed());
}

#[test]
fn deleted_user_connections_close() {
    let server = ServerProcess::shoal(&[]);
    let mut admin = server.client();
    admin.cmd("ACL SETUSER gone on >pw +@all ~*");
    let mut other = server.client();
    let mut me = server.client();
    other.cmd("AUTH gone pw");
    me.cmd("AUTH gone pw");
    assert_eq!(me.cmd("ACL WHOAMI"), bulk("gone"));
    // The client deleting its own user gets the reply, then is closed.
    assert_eq!(me.cmd("ACL DELUSER gone"), Value::Int(1));
    assert!(me.closed());
    assert!(other.closed());
    assert_eq!(admin.cmd("PING"), simple("PONG"));
    // CLIENT KILL USER knows users.
    admin.cmd("ACL SETUSER k on nopass +@all");
    let mut k = server.client();
    k.cmd("AUTH k any");
    assert_eq!(admin.cmd("CLIENT KILL USER k"), Value::Int(1));
    assert!(k.closed());
    assert_eq!(admin.cmd("CLIENT KILL USER nosuch"), error("ERR No such user 'nosuch'"));
}

#[test]
fn default_user_off_or_with_password() {
    let server = ServerProcess::shoal(&["--requirepass", "secret"]);
    let mut c = server.client();
    assert_eq!(c.cmd("GET x"), error("NOAUTH Authentication required."));
    assert_eq!(c.cmd("AUTH secret"), simple("OK"));
    let Value::Array(list) = c.cmd("ACL LIST") else { panic!() };
    assert_eq!(
        list[0],
        bulk("user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all")
    );
    c.cmd("CONFIG SET requirepass \"\"");
    c.cmd("ACL SETUSER alice on >a +@all ~*");
    c.cmd("ACL SETUSER default off");
    let mut fresh = server.client();
    assert_eq!(fresh.cmd("PING"), error("NOAUTH Authentication required."));
    let (Value::Map(_) | Value::Array(_)) = fresh.cmd("HELLO 2 AUTH alice a") else { panic!() };
    assert_eq!(fresh.cmd("ACL WHOAMI"), bulk("alice"));
}

#[test]
fn acl_file_load_and_save() {
    let dir = std::env::temp_dir().join(format!("shoal-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(&file, "user alice on >alice ~* &* +@all\nuser bob on >bob -@all +@set ~set*\n").unwrap();
    let server = ServerProcess::shoal(&["--aclfile", file.to_str().unwrap()]);
    let mut c = server.client();
    assert_eq!(c.cmd("ACL USERS"), Value::Array(vec![bulk("alice"), bulk("bob"), bulk("default")]));
    let mut bob = server.client();
    assert_eq!(bob.cmd("AUTH bob bob"), simple("OK"));
    assert_eq!(bob.cmd("SADD set1 a"), Value::Int(1));
    assert_eq!(
        bob.cmd("SADD other a"),
        error("NOPERM this user has no permissions to access one of the keys used as arguments")
    );
    c.cmd("ACL SETUSER carol on >c +get");
    assert_eq!(c.cmd("ACL SAVE"), simple("OK"));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user carol on #"), "{saved}");
    // A broken file changes nothing.
    std::fs::write(&file, "user alice on +nosuch\nfoo\n").unwrap();
    let Value::Error(e) = c.cmd("ACL LOAD") else { panic!() };
    assert!(String::from_utf8_lossy(&e).contains("WARNING: ACL errors detected"), "{}", String::from_utf8_lossy(&e));
    assert_eq!(c.cmd("ACL USERS"), Value::Array(vec![bulk("alice"), bulk("bob"), bulk("carol"), bulk("default")]));
    // Loading replaces the users; connections of replaced users close.
    std::fs::write(&file, "user alice on >alice ~* &* +@all\n").unwrap();
    assert_eq!(c.cmd("ACL LOAD"), simple("OK"));
    assert_eq!(c.cmd("ACL USERS"), Value::Array(vec![bulk("alice"), bulk("default")]));
    assert!(bob.closed());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn user_directives_and_aclfile_are_exclusive() {
    let dir = std::env::temp_dir().join(format!("shoal-acl-both-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("shoal.conf");
    std::fs::write(&conf, "user alice on >a +@all ~*\n").unwrap();
    let server = ServerProcess::shoal_with_config(&conf, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd("AUTH alice a"), simple("OK"));
    assert_eq!(c.cmd("CONFIG REWRITE"), simple("OK"));
    let rewritten = std::fs::read_to_string(&conf).unwrap();
    assert!(rewritten.contains("user alice on #"), "{rewritten}");
    assert!(rewritten.contains("user default on nopass ~* &* +@all"), "{rewritten}");
    drop(server);
    // Both ways of declaring users: refused at start-up.
    std::fs::write(dir.join("users.acl"), "").unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .arg(&conf)
        .args(["--port", &support::free_port().to_string(), "--aclfile", dir.join("users.acl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("but not both"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Read and write key permissions follow each command's key specs as in
/// Redis: ACL DRYRUN for users that may only read, only write, or read
/// `src*` and write `dst*`.
#[test]
fn key_permissions_match_redis() {
    let commands = [
        "get x",
        "set x v",
        "copy src dst",
        "copy dst src",
        "lmove src dst left right",
        "sort src store dst",
        "sort src",
        "xreadgroup group g c streams src >",
        "type x",
        "exists x",
        "del x",
        "object encoding x",
        "incr x",
        "getdel src",
        "pfcount src dst",
        "bitop and dst src",
        "georadius src 0 0 1 km store dst",
        "rename src dst",
        "touch src",
        "memory usage src",
        "lcs src dst",
        "smove src dst m",
        "zunionstore dst 1 src",
        "mset src 1 dst 2",
        "lpos src x",
        "publish ch1 m",
        "publish x m",
        "subscribe ch1 ch2 x",
        "psubscribe ch* x*",
        "ssubscribe ch1",
        "spublish chx m",
    ];
    let mut script = String::from(
        "ACL SETUSER r on nopass +@all %R~*\nACL SETUSER w on nopass +@all %W~*\nACL SETUSER m on nopass +@all %R~src* %W~dst* &ch*\n",
    );
    for user in ["r", "w", "m"] {
        for command in commands {
            script.push_str(&format!("ACL DRYRUN {user} {command}\n"));
        }
    }
    compare_script_with_redis(&script, false);
}
