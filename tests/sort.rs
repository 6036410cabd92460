//! SORT and SORT_RO against redis-server: the same data and commands on
//! both, replies compared byte for byte (lists, sets, sorted sets; BY
//! weights and hash fields, GET, LIMIT, ALPHA, DESC, STORE, errors).

mod support;

use support::ServerProcess;

const SETUP: &[&str] = &[
    "RPUSH nums 3 1 2 10 -5 2.5",
    "RPUSH words banana apple Cherry apple date",
    "SADD ints 5 3 9 1",
    "SADD tags x y z w",
    "ZADD board 10 d 1 a 5 b 2 c 3 e",
    "MSET weight_3 30 weight_1 10 weight_2 20 weight_10 5 obj_3 three obj_1 one",
    "HSET h_3 w 7 name T",
    "HSET h_1 w 9 name O",
    "HSET h_2 w 8",
    "SET notnum abc",
    "RPUSH mixed 1 x 2",
    "SET str hello",
];

const COMMANDS: &[&str] = &[
    "SORT nums",
    "SORT nums DESC",
    "SORT nums LIMIT 1 3",
    "SORT nums LIMIT -1 2",
    "SORT nums LIMIT 4 100",
    "SORT nums LIMIT 100 1",
    "SORT nums BY weight_*",
    "SORT nums BY weight_* GET obj_* GET #",
    "SORT nums BY h_*->w GET h_*->name",
    "SORT nums BY nosort",
    "SORT nums BY nosort DESC LIMIT 1 2",
    "SORT words ALPHA",
    "SORT words ALPHA DESC LIMIT 0 2",
    "SORT words",
    "SORT ints",
    "SORT tags ALPHA",
    "SORT board",
    "SORT board BY nosort",
    "SORT board BY nosort DESC LIMIT 0 2",
    "SORT board ALPHA DESC",
    "SORT mixed",
    "SORT missing",
    "SORT str",
    "SORT nums LIMIT a b",
    "SORT nums FOO",
    "SORT nums STORE dest",
    "LRANGE dest 0 -1",
    "SORT nums BY weight_* GET obj_* STORE dest2",
    "LRANGE dest2 0 -1",
    "SORT tags BY nosort STORE dest3",
    "LRANGE dest3 0 -1",
    "SORT missing STORE dest",
    "EXISTS dest",
    "SORT_RO nums DESC",
    "SORT_RO nums STORE x",
    "SORT words BY notnum",
    "SORT nums BY obj_*",
];

#[test]
fn sort_matches_redis() {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    for (name, server) in [("shoal", &shoal), ("redis", &redis)] {
        let mut c = server.client();
        for line in SETUP {
            assert!(!matches!(c.cmd(line), shoal_resp::Value::Error(_)), "{name}: {line}");
        }
    }
    let mut s = shoal.client();
    let mut r = redis.client();
    for line in COMMANDS {
        let args: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
        s.send(&args);
        r.send(&args);
        let (ours, theirs) = (s.read_raw(), r.read_raw());
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{line} differs"
        );
    }
}
