//! Hashes and sets over real sockets: what an encoding conversion may and may not
//! change, and what HINCRBYFLOAT and SPOP propagate to replicas and the AOF.
//!
//! Run: `cargo test --test hash_set` (any FERREDIS_IO_MODE).

mod common;

use std::collections::{HashMap, HashSet};

use common::Server;
use redis::Value;

fn encoding(con: &mut redis::Connection, key: &str) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(con)
        .unwrap()
}

/// Everything a client can read from a hash, as order-free values.
#[derive(Debug, PartialEq)]
struct HashView {
    all: HashMap<String, String>,
    keys: HashSet<String>,
    vals: Vec<String>,
    len: usize,
    strlens: Vec<usize>,
    scanned: HashMap<String, String>,
    rand_all: HashSet<String>,
}

fn hash_view(con: &mut redis::Connection, key: &str) -> HashView {
    let all: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
    let keys: HashSet<String> = redis::cmd("HKEYS").arg(key).query(con).unwrap();
    let mut vals: Vec<String> = redis::cmd("HVALS").arg(key).query(con).unwrap();
    vals.sort();
    let len: usize = redis::cmd("HLEN").arg(key).query(con).unwrap();
    let mut fields: Vec<&String> = all.keys().collect();
    fields.sort();
    let strlens = fields
        .iter()
        .map(|f| redis::cmd("HSTRLEN").arg(key).arg(*f).query(con).unwrap())
        .collect();
    let mut scanned = HashMap::new();
    let mut cursor = 0u64;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(2)
            .query(con)
            .unwrap();
        for p in items.chunks(2) {
            scanned.insert(p[0].clone(), p[1].clone());
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let rand_all: HashSet<String> = redis::cmd("HRANDFIELD")
        .arg(key)
        .arg(1000)
        .query(con)
        .unwrap();
    HashView {
        all,
        keys,
        vals,
        len,
        strlens,
        scanned,
        rand_all,
    }
}

/// Everything a client can read from a set, as order-free values.
#[derive(Debug, PartialEq)]
struct SetView {
    members: HashSet<String>,
    card: usize,
    flags: Vec<i64>,
    scanned: HashSet<String>,
    rand_all: HashSet<String>,
    union: HashSet<String>,
}

fn set_view(con: &mut redis::Connection, key: &str, probes: &[&str]) -> SetView {
    let members: HashSet<String> = redis::cmd("SMEMBERS").arg(key).query(con).unwrap();
    let card: usize = redis::cmd("SCARD").arg(key).query(con).unwrap();
    let flags: Vec<i64> = redis::cmd("SMISMEMBER")
        .arg(key)
        .arg(probes)
        .query(con)
        .unwrap();
    let mut scanned = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, items): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(key)
            .arg(cursor)
            .arg("COUNT")
            .arg(2)
            .query(con)
            .unwrap();
        scanned.extend(items);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let rand_all: HashSet<String> = redis::cmd("SRANDMEMBER")
        .arg(key)
        .arg(1000)
        .query(con)
        .unwrap();
    let union: HashSet<String> = redis::cmd("SUNION")
        .arg(key)
        .arg("nokey")
        .query(con)
        .unwrap();
    SetView {
        members,
        card,
        flags,
        scanned,
        rand_all,
        union,
    }
}

// ANCHOR: conversion_changes_only_the_encoding
/// A hash and a set read the same before and after their conversion to a
/// hashtable, by every read command; only OBJECT ENCODING tells the difference.
/// Each conversion is forced by one write that is then undone, so the contents
/// before and after are the same.
#[test]
fn conversion_changes_only_the_encoding() {
    let srv = Server::ferredis(&[
        "--hash-max-listpack-entries",
        "6",
        "--hash-max-listpack-value",
        "16",
        "--set-max-intset-entries",
        "6",
    ]);
    let mut con = srv.client();

    // Hash, converted by one field too many, then by one value too long.
    for (key, extra_field, extra_value) in [("h1", "f6", "x"), ("h2", "f0", "a-value-of-17-bytes")]
    {
        let pairs: Vec<(String, String)> = (0..6)
            .map(|i| (format!("f{i}"), format!("{}", i * 7)))
            .collect();
        let _: i64 = redis::cmd("HSET")
            .arg(key)
            .arg(&pairs)
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, key), "listpack");
        let before = hash_view(&mut con, key);
        let old: Option<String> = redis::cmd("HGET")
            .arg(key)
            .arg(extra_field)
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("HSET")
            .arg(key)
            .arg(extra_field)
            .arg(extra_value)
            .query(&mut con)
            .unwrap();
        match old {
            Some(v) => {
                let _: i64 = redis::cmd("HSET")
                    .arg(key)
                    .arg(extra_field)
                    .arg(v)
                    .query(&mut con)
                    .unwrap();
            }
            None => {
                let _: i64 = redis::cmd("HDEL")
                    .arg(key)
                    .arg(extra_field)
                    .query(&mut con)
                    .unwrap();
            }
        }
        assert_eq!(encoding(&mut con, key), "hashtable", "{key} converted");
        assert_eq!(hash_view(&mut con, key), before, "{key} reads the same");
    }

    // Set, converted by one member too many, then by a member that is not an integer.
    let probes = ["1", "2", "3", "4", "5", "6", "7", "x", "01", "-1"];
    for (key, extra) in [("s1", "7"), ("s2", "x")] {
        let _: i64 = redis::cmd("SADD")
            .arg(key)
            .arg(&["1", "2", "3", "4", "5", "6"])
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, key), "intset");
        let before = set_view(&mut con, key, &probes);
        let _: i64 = redis::cmd("SADD")
            .arg(key)
            .arg(extra)
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("SREM")
            .arg(key)
            .arg(extra)
            .query(&mut con)
            .unwrap();
        assert_eq!(encoding(&mut con, key), "hashtable", "{key} converted");
        assert_eq!(
            set_view(&mut con, key, &probes),
            before,
            "{key} reads the same"
        );
    }
}
// ANCHOR_END: conversion_changes_only_the_encoding

fn propagated(con: &mut redis::Connection) -> Vec<Vec<String>> {
    let v: Value = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("GET")
        .query(con)
        .unwrap();
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .into_iter()
        .map(|i| redis::from_redis_value::<Vec<String>>(&i).unwrap())
        .collect()
}

/// Random or floating-point results are propagated as their outcome: HINCRBYFLOAT
/// as HSET of the new text, SPOP as the SREMs (or the DEL) of what it popped.
#[test]
fn hincrbyfloat_and_spop_propagate_their_results() {
    let srv = Server::ferredis(&["--enable-debug-command", "yes"]);
    let mut con = srv.client();
    let _: () = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let v: String = redis::cmd("HINCRBYFLOAT")
        .arg("h")
        .arg("f")
        .arg("1.5")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, "1.5");
    let members: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for key in ["s1", "s2", "s3", "s4"] {
        let _: i64 = redis::cmd("SADD")
            .arg(key)
            .arg(&members)
            .query(&mut con)
            .unwrap();
    }
    // (DEBUG PROPAGATED GET returns the stream so far and clears it.)
    let log = propagated(&mut con);
    assert_eq!(log[1], ["HSET", "h", "f", "1.5"]);

    let one: String = redis::cmd("SPOP").arg("s1").query(&mut con).unwrap();
    // CASE 2 (few popped), CASE 3 (most popped), CASE 1 (all popped).
    let two: Vec<String> = redis::cmd("SPOP").arg("s2").arg(2).query(&mut con).unwrap();
    let nine: Vec<String> = redis::cmd("SPOP").arg("s3").arg(9).query(&mut con).unwrap();
    let all: Vec<String> = redis::cmd("SPOP")
        .arg("s4")
        .arg(10)
        .query(&mut con)
        .unwrap();
    assert_eq!((two.len(), nine.len(), all.len()), (2, 9, 10));
    let log = propagated(&mut con);
    let mut ops = log.iter();
    assert_eq!(ops.next().unwrap(), &["SREM", "s1", one.as_str()]);
    for (key, popped) in [("s2", &two), ("s3", &nine)] {
        assert_eq!(ops.next().unwrap(), &["MULTI"]);
        let mut srem: Vec<String> = Vec::new();
        for _ in 0..popped.len() {
            let op = ops.next().unwrap();
            assert_eq!(&op[..2], ["SREM", key], "{op:?}");
            assert_eq!(op.len(), 3, "one member per SREM, as Redis 7.0");
            srem.push(op[2].clone());
        }
        assert_eq!(
            &srem, popped,
            "the SREMs name the popped members in reply order"
        );
        assert_eq!(ops.next().unwrap(), &["EXEC"]);
    }
    assert_eq!(ops.next().unwrap(), &["DEL", "s4"]);
    assert!(ops.next().is_none());
    let left: i64 = redis::cmd("SCARD").arg("s3").query(&mut con).unwrap();
    assert_eq!(left, 1);
}

/// A negative count near LONG_MAX asks for a reply that cannot be built: the
/// output buffer limit closes the connection (as in Redis) and the server lives on.
#[test]
fn huge_random_counts_hit_the_output_limit_not_the_memory() {
    let srv = Server::ferredis(&["--client-output-buffer-limit", "normal 4mb 0 0"]);
    let mut con = srv.client();
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("SADD")
        .arg("s")
        .arg("m")
        .query(&mut con)
        .unwrap();
    for (cmd, key) in [("HRANDFIELD", "h"), ("SRANDMEMBER", "s")] {
        let mut raw = srv.raw();
        raw.send(&common::encode(&[
            cmd.as_bytes(),
            key.as_bytes(),
            b"-9223372036854775807",
        ]));
        let got = raw.read_to_close();
        // Closed before or after some of the reply went out; never all of it.
        assert!(
            got.is_empty() || got.starts_with(b"*9223372036854775807\r\n"),
            "{cmd}: {:?}",
            String::from_utf8_lossy(&got[..got.len().min(100)])
        );
        assert!(got.len() < 64 << 20, "{cmd}: {} bytes", got.len());
        let mut con = srv.client();
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG", "the server survived {cmd}");
    }
    let n: i64 = redis::cmd("HLEN").arg("h").query(&mut con).unwrap();
    assert_eq!(n, 1);
}
