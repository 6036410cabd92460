//! GEO commands over TCP, compared byte for byte with redis-server: fixed
//! scripts with every option and error, randomized searches over thousands
//! of points (scores, distances, coordinates and the set of results must
//! all be identical), and GEOADD's propagation as ZADD.

mod support;

use shoal_resp::Value;
use support::{bulk, RawClient, ServerProcess};

const SCRIPT: &[&str] = &[
    "GEOADD nyc -73.9454966 40.747533 lic",
    "GEOADD nyc -73.9733487 40.7648057 central -73.9903085 40.7362513 union -74.0131604 40.7126674 wtc -73.7858139 40.6428986 jfk -73.9375699 40.7498929 q4 -73.9564142 40.7480973 4545",
    "GEOADD nyc CH -73.9454966 40.747533 lic",
    "GEOADD nyc CH XX 40.747533 -73.9454966 lic",
    "GEOADD nyc NX -73.9454966 40.747533 lic",
    "GEOADD nyc XX NX 1 1 x",
    "GEOADD nyc GT 1 1 x",
    "GEOADD nyc 200 100 x",
    "GEOADD nyc 1 86 x",
    "GEOADD nyc foo 1 x",
    "GEOADD nyc 1 1",
    "ZRANGE nyc 0 -1 WITHSCORES",
    "GEOPOS nyc wtc nope q4",
    "GEOPOS nokey a",
    "GEOHASH nyc wtc nope jfk",
    "GEOHASH nokey a",
    "GEODIST nyc wtc jfk",
    "GEODIST nyc wtc jfk km",
    "GEODIST nyc wtc jfk mi",
    "GEODIST nyc wtc jfk ft",
    "GEODIST nyc wtc wtc",
    "GEODIST nyc wtc nope",
    "GEODIST nokey a b",
    "GEODIST nyc wtc jfk parsec",
    "GEODIST nyc wtc jfk km extra",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km ASC",
    "GEORADIUS nyc -73.9798091 40.7598464 3 km WITHDIST WITHCOORD WITHHASH ASC",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 3 ANY DESC",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 2 DESC WITHDIST",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km ANY",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT 0",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km COUNT x",
    "GEORADIUS nyc -73.9798091 40.7598464 -10 km",
    "GEORADIUS nyc -73.9798091 40.7598464 x km",
    "GEORADIUS nyc -73.9798091 40.7598464 10 parsec",
    "GEORADIUS nyc 200 40 10 km",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst WITHDIST",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STORE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUS nyc -73.9798091 40.7598464 10 km STOREDIST dst ASC COUNT 2",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUS nyc 0 0 1 m STORE dst",
    "EXISTS dst",
    "GEORADIUS_RO nyc -73.9798091 40.7598464 10 km STORE dst",
    "GEORADIUS_RO nyc -73.9798091 40.7598464 10 mi WITHDIST",
    "GEORADIUSBYMEMBER nyc wtc 7 km",
    "GEORADIUSBYMEMBER nyc wtc 7 km WITHDIST",
    "GEORADIUSBYMEMBER nyc nope 7 km",
    "GEORADIUSBYMEMBER nokey nope bad km",
    "GEORADIUSBYMEMBER nokey nope 1 km STORE dst",
    "GEORADIUSBYMEMBER_RO nyc wtc 7000 ft DESC",
    "GEOSEARCH nyc FROMLONLAT -73.9798091 40.7598464 BYBOX 6 6 km ASC",
    "GEOSEARCH nyc FROMMEMBER wtc BYBOX 14 14 km WITHDIST WITHHASH WITHCOORD",
    "GEOSEARCH nyc FROMMEMBER wtc BYRADIUS 5 km COUNT 1",
    "GEOSEARCH nyc FROMLONLAT 1 1 FROMMEMBER wtc BYBOX 1 1 km",
    "GEOSEARCH nyc FROMMEMBER wtc FROMLONLAT 1 1 BYBOX 1 1 km",
    "GEOSEARCH nyc BYBOX 3 3 km",
    "GEOSEARCH nyc FROMLONLAT 1 1",
    "GEOSEARCH nyc FROMLONLAT 1 1 BYRADIUS 1 km BYBOX 1 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 1 BYBOX -1 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 1 BYBOX x 1 km",
    "GEOSEARCH nyc FROMLONLAT 1 1 BYBOX 1 x km",
    "GEOSEARCH nyc FROMLONLAT 1 1 BYRADIUS 1 km STOREDIST",
    "GEOSEARCH nyc FROMMEMBER nope BYRADIUS 1 km",
    "GEOSEARCH nokey FROMMEMBER nope BYRADIUS 1 km",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 10 km STOREDIST",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 10 km WITHDIST",
    "GEOSEARCHSTORE dst nyc FROMLONLAT -73.9798091 40.7598464 BYRADIUS 10 km STORE x",
    "GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 10 km",
    "EXISTS dst",
    "GEOADD poles 45 65 n1 -135 85.05 n2 179.5 36 e1 -179.5 36 e2",
    "GEORADIUSBYMEMBER poles n1 5009431 m",
    "GEOSEARCH poles FROMLONLAT 179 37 BYBOX 400 400 km ASC WITHCOORD",
    "GEOSEARCH poles FROMLONLAT 0 0 BYRADIUS 50000 km WITHDIST",
    "SET str x",
    "GEOADD str 1 1 a",
    "GEOPOS str a",
    "GEORADIUS str 1 1 1 km",
    "GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 km",
];

fn run_both(a: &mut RawClient, b: &mut RawClient, line: &str) {
    let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
    a.send(&words);
    b.send(&words);
    let (x, y) = (a.read_raw(), b.read_raw());
    assert_eq!(String::from_utf8_lossy(&x), String::from_utf8_lossy(&y), "reply to {line:?}");
}

#[test]
fn replies_equal_redis() {
    for protocol in ["2", "3"] {
        for encoding in ["128", "0"] {
            let shoal = ServerProcess::shoal(&["--zset-max-listpack-entries", encoding]);
            let redis = ServerProcess::redis(&["--zset-max-listpack-entries", encoding]);
            let (mut a, mut b) = (shoal.client(), redis.client());
            a.cmd(&format!("HELLO {protocol}"));
            b.cmd(&format!("HELLO {protocol}"));
            for line in SCRIPT {
                run_both(&mut a, &mut b, line);
            }
        }
    }
}

#[test]
fn random_searches_equal_redis() {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    let (mut a, mut b) = (shoal.client(), redis.client());
    let mut seed = 2024u64;
    let mut unit = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut line = String::from("GEOADD points");
    for i in 0..3000 {
        let lon = -180.0 + unit() * 360.0;
        let lat = -80.0 + unit() * 160.0;
        line.push_str(&format!(" {lon:.6} {lat:.6} p{i}"));
    }
    run_both(&mut a, &mut b, &line);
    for round in 0..60 {
        let lon = -180.0 + unit() * 360.0;
        let lat = -80.0 + unit() * 160.0;
        let size = 50.0 + unit() * 3000.0;
        let shape = if round % 2 == 0 {
            format!("BYRADIUS {size:.3} km")
        } else {
            format!("BYBOX {size:.3} {:.3} km", size / 2.0)
        };
        let options = ["WITHDIST WITHCOORD WITHHASH ASC", "DESC WITHDIST", "COUNT 5 WITHDIST", "COUNT 3 ANY"];
        let search = format!("GEOSEARCH points FROMLONLAT {lon:.6} {lat:.6} {shape} {}", options[round % 4]);
        run_both(&mut a, &mut b, &search);
        let member = format!("p{}", round * 37);
        run_both(&mut a, &mut b, &format!("GEORADIUSBYMEMBER points {member} {size:.3} km WITHDIST ASC"));
        run_both(&mut a, &mut b, &format!("GEODIST points {member} p{} km", round * 11));
    }
    run_both(&mut a, &mut b, "GEOHASH points p0 p1 p2 p3 p4 p5");
    run_both(&mut a, &mut b, "GEOPOS points p0 p1 p2 p3 p4 p5");
}

#[test]
fn geoadd_propagates_as_zadd() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let mut replica = support::start_sync(&server);
    c.cmd("GEOADD g CH 13.361389 38.115556 Palermo");
    // Nothing changes: nothing is propagated.
    c.cmd("GEOADD g 13.361389 38.115556 Palermo");
    c.cmd("GEOADD g NX 15.087269 37.502669 Catania");
    assert_eq!(replica.read(), Value::Array(vec![bulk("SELECT"), bulk("0")]));
    let zadd = |words: &[&str]| Value::Array(words.iter().map(|w| bulk(w)).collect());
    assert_eq!(replica.read(), zadd(&["zadd", "g", "CH", "3479099956230698", "Palermo"]));
    assert_eq!(replica.read(), zadd(&["zadd", "g", "NX", "3479447370796909", "Catania"]));
}
