//! DUMP in one server, RESTORE in the other: every type and encoding travels from a real
//! redis-server 7.0.15 into ferredis and back, and arrives with the same value, the same
//! encoding and (for RESTORE with a TTL) the same expiry.
//!
//! Run: `cargo test --test dump_restore` (any FERREDIS_IO_MODE).

mod common;

use common::Server;

/// The commands that build one key of each type and encoding (big ones included).
fn fixtures() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut out = vec![
        s(&["SET", "str", "hello"]),
        s(&["SET", "int", "-987654"]),
        s(&["SET", "bigint", "123456789012"]),
        s(&["SET", "lzf", &"abcdefgh".repeat(40)]),
        s(&["SET", "raw", &"\u{1}x\u{7f}".repeat(30)]),
        s(&[
            "RPUSH",
            "list",
            "a",
            "1",
            "-70000",
            "9223372036854775807",
            "x y",
        ]),
        s(&["HSET", "hash", "f", "v", "n", "12"]),
        s(&["SADD", "intset", "1", "-2", "5000000000"]),
        s(&["SADD", "set", "a", "b", "c"]),
        s(&[
            "ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c", "1e300", "d",
        ]),
    ];
    out.push(s(&["HSET", "longhash", "f", &"v".repeat(100)]));
    out.extend(common::big_collections());
    out
}

/// Everything readable about a key, in an order-free form.
fn view(con: &mut redis::Connection, key: &str) -> (String, String, Vec<String>) {
    let t: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(con)
        .unwrap();
    let mut items: Vec<String> = match t.as_str() {
        "string" => vec![redis::cmd("GET").arg(key).query(con).unwrap()],
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap(),
        "hash" => redis::cmd("HGETALL").arg(key).query(con).unwrap(),
        "set" => redis::cmd("SMEMBERS").arg(key).query(con).unwrap(),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap(),
        other => panic!("unexpected type {other}"),
    };
    if t == "set" {
        items.sort();
    }
    if t == "hash" {
        let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("\u{0}")).collect();
        pairs.sort();
        items = pairs;
    }
    (t, enc, items)
}

fn dump(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(con).unwrap()
}

fn restore(con: &mut redis::Connection, key: &str, ttl: i64, payload: &[u8]) {
    let r: String = redis::cmd("RESTORE")
        .arg(key)
        .arg(ttl)
        .arg(payload)
        .query(con)
        .unwrap();
    assert_eq!(r, "OK");
}

#[test]
fn every_type_travels_both_ways() {
    let redis = Server::redis(&common::io_mode_oracle_args());
    let ferredis = Server::ferredis(common::io_mode_args());
    let mut r = redis.client();
    let mut f = ferredis.client();
    for cmd in fixtures() {
        common::run_commands(&mut r, std::slice::from_ref(&cmd));
        common::run_commands(&mut f, std::slice::from_ref(&cmd));
    }
    for cmd in fixtures() {
        let key = &cmd[1];
        let original = view(&mut r, key);
        assert_eq!(
            view(&mut f, key),
            original,
            "{key}: same commands, same value"
        );

        // redis-server -> ferredis
        let p = dump(&mut r, key);
        let copy = format!("{key}:from-redis");
        restore(&mut f, &copy, 0, &p);
        assert_eq!(
            view(&mut f, &copy),
            original,
            "{key} restored into ferredis"
        );

        // ferredis -> redis-server
        let p = dump(&mut f, key);
        let copy = format!("{key}:from-ferredis");
        restore(&mut r, &copy, 0, &p);
        assert_eq!(
            view(&mut r, &copy),
            original,
            "{key} restored into redis-server"
        );

        // And ferredis reads its own payloads.
        let copy = format!("{key}:self");
        restore(&mut f, &copy, 100_000, &p);
        assert_eq!(
            view(&mut f, &copy),
            original,
            "{key} restored into ferredis"
        );
        let ttl: i64 = redis::cmd("TTL").arg(&copy).query(&mut f).unwrap();
        assert!((1..=100).contains(&ttl), "{key}: TTL {ttl}");
    }
}

/// Payloads of small encodings are the same bytes in both servers (the differential
/// corpus checks this too, one reply at a time).
#[test]
fn small_encodings_dump_identically() {
    let redis = Server::redis(&common::io_mode_oracle_args());
    let ferredis = Server::ferredis(common::io_mode_args());
    let mut r = redis.client();
    let mut f = ferredis.client();
    for cmd in fixtures() {
        common::run_commands(&mut r, std::slice::from_ref(&cmd));
        common::run_commands(&mut f, std::slice::from_ref(&cmd));
        let key = &cmd[1];
        let enc: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query(&mut r)
            .unwrap();
        // A dict's iteration order depends on Redis's random hash seed.
        if enc == "hashtable" || key == "leftlist" {
            continue;
        }
        assert_eq!(dump(&mut f, key), dump(&mut r, key), "{key} ({enc})");
    }
}

fn propagated(con: &mut redis::Connection) -> Vec<Vec<Vec<u8>>> {
    let v: redis::Value = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("GET")
        .query(con)
        .unwrap();
    let redis::Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .into_iter()
        .map(|i| redis::from_redis_value::<Vec<Vec<u8>>>(&i).unwrap())
        .collect()
}

/// RESTORE with a relative TTL reaches replicas and the AOF with the absolute expiry
/// time and ABSTTL (so they expire the key at the same instant); an already expired
/// RESTORE ... REPLACE propagates as the DEL it amounts to.
#[test]
fn restore_propagates_absolute_ttl() {
    let srv = Server::ferredis(&["--enable-debug-command", "yes"]);
    let mut con = srv.client();
    let _: () = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let p = dump(&mut con, "k");
    let _ = propagated(&mut con);

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    restore(&mut con, "a", 50_000, &p);
    restore(&mut con, "b", 0, &p);
    let _: String = redis::cmd("RESTORE")
        .arg("k")
        .arg(1)
        .arg(&p[..])
        .arg("ABSTTL")
        .arg("REPLACE")
        .query(&mut con)
        .unwrap();
    let log = propagated(&mut con);
    let ops: Vec<&Vec<Vec<u8>>> = log.iter().filter(|op| op[0] != b"SELECT").collect();
    assert_eq!(ops.len(), 3, "{log:?}");
    assert_eq!(ops[0][0].to_ascii_uppercase(), b"RESTORE");
    let when: i64 = std::str::from_utf8(&ops[0][2]).unwrap().parse().unwrap();
    assert!((before + 50_000..before + 60_000).contains(&when), "{when}");
    assert_eq!(ops[0][3], p);
    assert_eq!(ops[0][4], b"ABSTTL");
    assert_eq!(
        ops[1],
        &vec![b"RESTORE".to_vec(), b"b".to_vec(), b"0".to_vec(), p.clone()]
    );
    assert_eq!(ops[2], &vec![b"DEL".to_vec(), b"k".to_vec()]);
}

/// DEBUG OBJECT's serializedlength is the RDB size of the value (rdbSavedObjectLen),
/// the same in both servers for every type and encoding.
#[test]
fn debug_object_serializedlength_matches() {
    let redis = Server::redis(&["--enable-debug-command", "yes"]);
    let ferredis = Server::ferredis(&["--enable-debug-command", "yes"]);
    let mut r = redis.client();
    let mut f = ferredis.client();
    let field = |line: &str| {
        line.split(' ')
            .find(|w| w.starts_with("serializedlength:"))
            .unwrap()
            .to_string()
    };
    for cmd in fixtures() {
        common::run_commands(&mut r, std::slice::from_ref(&cmd));
        common::run_commands(&mut f, std::slice::from_ref(&cmd));
        let key = &cmd[1];
        let a: String = redis::cmd("DEBUG")
            .arg("OBJECT")
            .arg(key)
            .query(&mut r)
            .unwrap();
        let b: String = redis::cmd("DEBUG")
            .arg("OBJECT")
            .arg(key)
            .query(&mut f)
            .unwrap();
        if key == "leftlist" {
            continue; // node boundaries differ (see small_encodings_dump_identically)
        }
        assert_eq!(field(&b), field(&a), "{key}");
    }
}
