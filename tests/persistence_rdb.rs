//! The RDB file: SAVE and BGSAVE (a forked child), loading at start-up, save points,
//! `-MISCONF`, and interoperability with the real redis-server 7.0.15 both ways.
//!
//! Run: `cargo test --test persistence_rdb` (any FERREDIS_IO_MODE).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Server;

/// A ferredis with the I/O mode, DEBUG enabled, and `extra`.
fn ferredis(extra: &[&str]) -> Server {
    let mut args = common::io_mode_args().to_vec();
    args.extend_from_slice(&["--enable-debug-command", "yes"]);
    args.extend_from_slice(extra);
    Server::ferredis(&args)
}

/// The oracle, likewise.
fn oracle(extra: &[&str]) -> Server {
    let mut args = common::io_mode_oracle_args();
    args.extend_from_slice(&["--enable-debug-command", "yes"]);
    args.extend_from_slice(extra);
    Server::redis(&args)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Commands building every type and encoding, with TTLs, in databases 0, 2 and 9.
fn fixtures() -> Vec<Vec<String>> {
    let mut out = vec![
        s(&["SELECT", "0"]),
        s(&["SET", "str", "hello"]),
        s(&["SET", "int", "-987654"]),
        s(&["SET", "bigint", "123456789012"]),
        s(&["SET", "lzf", &"abcdefgh".repeat(40)]),
        s(&["SET", "raw", &"\u{1}x\u{7f}".repeat(30)]),
        s(&["SET", "ttl", "soon", "PX", "500000"]),
        s(&["RPUSH", "list", "a", "1", "-70000", "9223372036854775807"]),
        s(&["HSET", "hash", "f", "v", "n", "12"]),
        s(&["SADD", "intset", "1", "-2", "5000000000"]),
        s(&["SADD", "set", "a", "b", "c"]),
        s(&[
            "ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c", "1e300", "d",
        ]),
        s(&["EXPIRE", "zset", "90000"]),
        s(&["SELECT", "2"]),
        s(&["SET", "str", "in db 2"]),
        s(&["HSET", "longhash", "f", &"v".repeat(100)]),
        s(&["PEXPIRE", "longhash", "123456789"]),
        s(&["SELECT", "9"]),
    ];
    let mut big_list = s(&["RPUSH", "biglist"]);
    big_list.extend((0..4000).map(|i| format!("element-{i}")));
    out.push(big_list);
    let mut left_list = s(&["LPUSH", "leftlist"]);
    left_list.extend((0..3000).map(|i| (i * 31).to_string()));
    out.push(left_list);
    let mut big_hash = s(&["HSET", "bighash"]);
    big_hash.extend((0..700).flat_map(|i| [format!("field{i}"), format!("value{i}")]));
    out.push(big_hash);
    let mut big_set = s(&["SADD", "bigintset"]);
    big_set.extend((0..600).map(|i| (i * 7).to_string()));
    out.push(big_set);
    let mut big_zset = s(&["ZADD", "bigzset"]);
    big_zset.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]));
    out.push(big_zset);
    out.push(s(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return 7 end)",
    ]));
    out.push(s(&["SELECT", "0"]));
    out
}

fn run(con: &mut redis::Connection, cmds: &[Vec<String>]) {
    for cmd in cmds {
        let mut c = redis::cmd(&cmd[0]);
        for a in &cmd[1..] {
            c.arg(a.as_bytes());
        }
        let _: redis::Value = c.query(con).unwrap();
    }
}

fn digest(con: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
}

/// Every key of every database, with its type, encoding, value (order-free for
/// sets and hashes) and TTL rounded to whole minutes.
fn everything(con: &mut redis::Connection) -> Vec<(i64, String, String, String, Vec<String>, i64)> {
    let mut out = Vec::new();
    for db in 0..16 {
        let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        keys.sort();
        for key in keys {
            let t: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
            let enc: String = redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(&key)
                .query(con)
                .unwrap();
            let mut items: Vec<String> = match t.as_str() {
                "string" => vec![redis::cmd("GET").arg(&key).query(con).unwrap()],
                "list" => redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(con)
                    .unwrap(),
                "hash" => redis::cmd("HGETALL").arg(&key).query(con).unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(&key).query(con).unwrap(),
                _ => redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(con)
                    .unwrap(),
            };
            if t == "set" || t == "hash" {
                items.sort();
            }
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query(con).unwrap();
            out.push((
                db,
                key,
                t,
                enc,
                items,
                if pttl < 0 { pttl } else { pttl / 60_000 },
            ));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(con).unwrap();
    out
}

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

/// Waits for the running BGSAVE to end; returns its status ("ok" or "err").
fn wait_bgsave(con: &mut redis::Connection) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(con, "persistence", "rdb_bgsave_in_progress") == "1" {
        assert!(Instant::now() < deadline, "BGSAVE never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    info_field(con, "persistence", "rdb_last_bgsave_status")
}

/// A fresh directory holding a copy of `file` as dump.rdb.
fn dir_with(file: &Path, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferredis-rdb-{}-{}-{}",
        std::process::id(),
        name,
        common::free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(file, dir.join("dump.rdb")).unwrap();
    dir
}

fn functions(con: &mut redis::Connection) -> redis::Value {
    redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("WITHCODE")
        .query(con)
        .unwrap()
}

#[test]
fn redis_dump_loads_into_ferredis() {
    let redis = oracle(&[]);
    let mut r = redis.client();
    run(&mut r, &fixtures());
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    let dir = dir_with(&redis.dir.join("dump.rdb"), "from-redis");
    let fsrv = ferredis(&["--dir", dir.to_str().unwrap()]);
    let mut f = fsrv.client();
    assert_eq!(digest(&mut f), digest(&mut r));
    assert_eq!(everything(&mut f), everything(&mut r));
    assert_eq!(functions(&mut f), functions(&mut r));
    let fcall: i64 = redis::cmd("FCALL")
        .arg("rdbf")
        .arg(0)
        .query(&mut f)
        .unwrap();
    assert_eq!(fcall, 7);
    assert_eq!(
        info_field(&mut f, "persistence", "rdb_last_load_keys_loaded"),
        "18"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ferredis_bgsave_loads_into_redis() {
    let fsrv = ferredis(&[]);
    let mut f = fsrv.client();
    run(&mut f, &fixtures());
    let before: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let started: String = redis::cmd("BGSAVE").query(&mut f).unwrap();
    assert_eq!(started, "Background saving started");
    assert_eq!(wait_bgsave(&mut f), "ok");
    let after: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
    assert!(after > before, "LASTSAVE moved: {before} -> {after}");
    assert_eq!(
        info_field(&mut f, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "from-ferredis");
    let redis = oracle(&["--dir", dir.to_str().unwrap()]);
    let mut r = redis.client();
    assert_eq!(digest(&mut r), digest(&mut f));
    assert_eq!(everything(&mut r), everything(&mut f));
    assert_eq!(functions(&mut r), functions(&mut f));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_and_restart_keep_the_dataset() {
    let fsrv = ferredis(&[]);
    let mut f = fsrv.client();
    run(&mut f, &fixtures());
    let ok: String = redis::cmd("SAVE").query(&mut f).unwrap();
    assert_eq!(ok, "OK");
    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "restart");
    let again = ferredis(&["--dir", dir.to_str().unwrap()]);
    let mut g = again.client();
    assert_eq!(digest(&mut g), digest(&mut f));
    assert_eq!(everything(&mut g), everything(&mut f));
    let _ = std::fs::remove_dir_all(&dir);
}
