//! Bytes per key, as `INFO memory`'s used_memory counts them (scripts/bench-memory
//! measures the same thing beside redis-server; these are its regression guards).
//!
//! Bounds are loose on purpose (the dict's table size alone moves the figure by a
//! few bytes); what they catch is a whole extra allocation or a retained buffer per key.

mod common;

use common::Server;

const KEYS: usize = 50_000;

fn used_memory(con: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .expect("used_memory in INFO")
        .trim()
        .parse()
        .unwrap()
}

/// Loads `KEYS` keys with one pipelined command each, as the benchmark does.
fn load(con: &mut redis::Connection, make: impl Fn(usize) -> redis::Cmd) {
    for start in (0..KEYS).step_by(10_000) {
        let mut p = redis::pipe();
        for i in start..(start + 10_000).min(KEYS) {
            p.add_command(make(i)).ignore();
        }
        p.query::<()>(con).unwrap();
    }
    let n: usize = redis::cmd("DBSIZE").query(con).unwrap();
    assert_eq!(n, KEYS);
}

/// used_memory once it stops moving: an incremental rehash still holding the old
/// table, or the query buffer not yet trimmed by the cron, would add a few bytes
/// per key that are not the keys' (generous: up to 3 s on a loaded machine).
fn settled_used_memory(con: &mut redis::Connection) -> i64 {
    let mut last = used_memory(con);
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let now = used_memory(con);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

fn per_key(make: impl Fn(usize) -> redis::Cmd) -> (f64, redis::Connection, Server) {
    let srv = Server::ferredis(common::io_mode_args());
    let mut con = srv.client();
    let before = used_memory(&mut con);
    load(&mut con, make);
    let after = settled_used_memory(&mut con);
    let b = (after - before) as f64 / KEYS as f64;
    eprintln!("{b:.1} bytes per key");
    (b, con, srv)
}

fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}:{i:012}")
}

fn value(i: usize) -> String {
    format!("v{i:015}")
}

/// A stored key owns its bytes: the argument it came from is a view of the client's
/// query buffer, and keeping that view would keep every read buffer alive (about 24
/// more bytes per key in the benchmark).
#[test]
fn string_keys_do_not_keep_the_query_buffer() {
    let (b, _con, _srv) = per_key(|i| {
        let mut c = redis::cmd("SET");
        c.arg(key("key", i)).arg(value(i));
        c
    });
    // entry 56 + key 16 + value 16 + table slot ~10.5 = ~98.5 (the query buffer
    // kept alive added ~24)
    assert!(b < 110.0, "{b:.1} bytes per 16-byte string key");
}

/// Reading keys back (KEYS, SCAN, RANDOMKEY) must not cost stored keys anything:
/// cloning a stored `Bytes` would allocate a shared header it then keeps for good.
#[test]
fn listing_keys_leaves_their_memory_alone() {
    let (_, mut con, _srv) = per_key(|i| {
        let mut c = redis::cmd("SET");
        c.arg(key("key", i)).arg(value(i));
        c
    });
    let before = settled_used_memory(&mut con);
    let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert_eq!(all.len(), KEYS);
    let mut cursor = 0u64;
    let mut seen = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        seen += batch.len();
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(seen >= KEYS);
    for _ in 0..1000 {
        let _: String = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
    }
    let grown = (settled_used_memory(&mut con) - before) as f64 / KEYS as f64;
    assert!(
        grown < 2.0,
        "listing the keys grew them by {grown:.1} bytes each"
    );
}

/// A small hash is one listpack blob of its exact size: a one-field hash costs its
/// key, its boxed Hash and ~32 bytes of listpack (was ~85 as a Vec of Bytes pairs).
#[test]
fn small_hashes_are_one_listpack() {
    let (b, mut con, _srv) = per_key(|i| {
        let mut c = redis::cmd("HSET");
        c.arg(key("hash", i)).arg("field").arg(value(i));
        c
    });
    // entry 56 + key 17 + table slot ~10.5 + Box<Hash> 24 + listpack 32 = ~139.5
    assert!(b < 155.0, "{b:.1} bytes per one-field hash");
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key("hash", 7))
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "listpack");
}

/// A small sorted set is one listpack too: member, then score (an integer here).
#[test]
fn small_sorted_sets_are_one_listpack() {
    let (b, mut con, _srv) = per_key(|i| {
        let mut c = redis::cmd("ZADD");
        c.arg(key("zset", i)).arg(1).arg(value(i));
        c
    });
    // entry 56 + key 17 + table slot ~10.5 + Box<ZSet> 24 + listpack 27 = ~134.5
    assert!(b < 150.0, "{b:.1} bytes per one-member sorted set");
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key("zset", 7))
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "listpack");
}
