//! The RDB file: SAVE and BGSAVE (a forked child), loading at start-up, save points,
//! `-MISCONF`, and interoperability with the real redis-server 7.0.15 both ways.
//!
//! Run: `cargo test --test persistence_rdb` (any FERREDIS_IO_MODE).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Kind, Server};

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
    out.extend(common::big_collections());
    out.push(s(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return 7 end)",
    ]));
    out.push(s(&["SELECT", "0"]));
    out
}

fn run(con: &mut redis::Connection, cmds: &[Vec<String>]) {
    common::run_commands(con, cmds);
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
    let dir = common::fresh_dir(name);
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

// ANCHOR: bgsave_snapshot_test
/// The claim of the snapshots chapter: BGSAVE writes the dataset as it was at the
/// fork, while the event loop goes on answering (and writing) meanwhile.
#[test]
fn bgsave_is_the_dataset_at_fork_and_the_loop_keeps_serving() {
    let fsrv = ferredis(&[]);
    let mut f = fsrv.client();
    let n = 2000;
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET").arg(format!("k{i}")).arg("before").ignore();
    }
    let _: () = pipe.query(&mut f).unwrap();
    // One millisecond per key saved: the child needs about two seconds.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rdb-key-save-delay")
        .arg(1000)
        .query(&mut f)
        .unwrap();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
    let start = Instant::now();
    let _: String = redis::cmd("BGSAVE").query(&mut f).unwrap();
    let t = Instant::now();
    let pong: String = redis::cmd("PING").query(&mut f).unwrap();
    let ping_time = t.elapsed();
    assert_eq!(pong, "PONG");
    // Writes after the fork: none of them may reach the file.
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("after")
            .query(&mut f)
            .unwrap();
    }
    let _: () = redis::cmd("DEL")
        .arg("k100")
        .arg("k101")
        .query(&mut f)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("x")
        .query(&mut f)
        .unwrap();
    assert_eq!(
        info_field(&mut f, "persistence", "rdb_bgsave_in_progress"),
        "1",
        "the writes above must happen while the child is still saving"
    );
    assert_eq!(wait_bgsave(&mut f), "ok");
    let save_time = start.elapsed();
    assert!(
        ping_time * 4 < save_time,
        "PING took {ping_time:?} during a {save_time:?} save"
    );
    let after: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
    assert!(after >= before);
    // The child reported how much memory copy-on-write duplicated.
    let cow: u64 = info_field(&mut f, "persistence", "rdb_last_cow_size")
        .parse()
        .unwrap();
    assert!(cow > 0, "rdb_last_cow_size {cow}");
    // The 103 changes made during the save are still unsaved.
    assert_eq!(
        info_field(&mut f, "persistence", "rdb_changes_since_last_save"),
        "103"
    );

    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "at-fork");
    let again = ferredis(&["--dir", dir.to_str().unwrap()]);
    let mut g = again.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut g).unwrap();
    assert_eq!(size, n);
    for i in [0, 99, 100, 101, 1999] {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut g)
            .unwrap();
        assert_eq!(v, "before", "k{i}");
    }
    let late: Option<String> = redis::cmd("GET").arg("late").query(&mut g).unwrap();
    assert_eq!(late, None);
    let _ = std::fs::remove_dir_all(&dir);
}
// ANCHOR_END: bgsave_snapshot_test

#[test]
fn save_points_trigger_by_themselves() {
    let fsrv = ferredis(&["--save", "1 1"]);
    let mut f = fsrv.client();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("b").query(&mut f).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now: i64 = redis::cmd("LASTSAVE").query(&mut f).unwrap();
        if now > before && info_field(&mut f, "persistence", "rdb_bgsave_in_progress") == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "no save point fired");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(fsrv.dir.join("dump.rdb").exists());
    assert_eq!(
        info_field(&mut f, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    assert_eq!(info_field(&mut f, "persistence", "rdb_saves"), "1");
}

/// Starts ferredis on a directory holding `file` as dump.rdb, expects it to exit
/// (never to serve), and returns its exit code and log.
fn start_must_fail(file: &[u8], name: &str) -> (i32, String) {
    let dir = common::fresh_dir(name);
    std::fs::write(dir.join("dump.rdb"), file).unwrap();
    let mut srv = Server::on_dir(Kind::Ferredis, &dir, &["--logfile", "log.txt"], true);
    let code = srv.run_to_exit(&[]);
    let log = srv.log();
    // The loop never started: no client was ever served.
    assert!(
        !log.contains("Ready to accept connections"),
        "{name}: {log}"
    );
    (code, log)
}

#[test]
fn bad_files_stop_the_start_with_redis_messages() {
    let fsrv = ferredis(&[]);
    let mut f = fsrv.client();
    run(&mut f, &fixtures());
    let _: String = redis::cmd("SAVE").query(&mut f).unwrap();
    let good = std::fs::read(fsrv.dir.join("dump.rdb")).unwrap();

    let (code, log) = start_must_fail(&good[..good.len() - 100], "truncated");
    assert_eq!(code, 1);
    assert!(
        log.contains("# Short read or OOM loading DB. Unrecoverable error, aborting now."),
        "{log}"
    );
    assert!(
        log.contains("# Internal error in RDB reading offset "),
        "{log}"
    );
    assert!(log.contains("-> Unexpected EOF reading RDB file"), "{log}");

    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    let (code, log) = start_must_fail(&bad, "checksum");
    assert_eq!(code, 1);
    assert!(log.contains("# Wrong RDB checksum expected: ("), "{log}");
    assert!(log.contains("). Aborting now."), "{log}");
    assert!(log.contains("-> RDB CRC error"), "{log}");

    // A corrupt value in the middle of the file: nothing is served either.
    let mut bad = good.clone();
    let at = bad.windows(7).position(|w| w == b"biglist").unwrap() + 9;
    for b in &mut bad[at..at + 16] {
        *b = 0xff;
    }
    let (code, _) = start_must_fail(&bad, "corrupt-value");
    assert_eq!(code, 1);

    let mut bad = good.clone();
    bad[0] = b'X';
    let (code, log) = start_must_fail(&bad, "signature");
    assert_eq!(code, 1);
    assert!(
        log.contains("# Wrong signature trying to load DB from file"),
        "{log}"
    );
    assert!(
        log.contains("# Fatal error loading the DB: Invalid argument. Exiting."),
        "{log}"
    );
}

#[test]
fn misconf_after_a_failed_bgsave_as_redis() {
    let show = |v: &Vec<Vec<u8>>| {
        v.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    };
    let mut replies = Vec::new();
    let args = ["--save", "3600 1", "--enable-protected-configs", "yes"];
    for srv in [ferredis(&args), oracle(&args)] {
        let mut raw = srv.raw();
        let mut got = Vec::new();
        // The file cannot be created in /proc: the child fails.
        got.push(raw.cmd(&[b"CONFIG", b"SET", b"dir", b"/proc"]));
        got.push(raw.cmd(&[b"BGSAVE"]));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = String::from_utf8(raw.cmd(&[b"INFO", b"persistence"])).unwrap();
            if info.contains("rdb_bgsave_in_progress:0")
                && info.contains("rdb_last_bgsave_status:err")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "BGSAVE did not fail: {:?} {info}",
                show(&got)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        got.push(raw.cmd(&[b"SET", b"k", b"v"]));
        got.push(raw.cmd(&[b"PING"]));
        got.push(raw.cmd(&[b"GET", b"k"]));
        got.push(raw.cmd(&[b"EVAL", b"return redis.call('set','k','v')", b"0"]));
        got.push(raw.cmd(&[b"EVAL", b"#!lua\nreturn redis.call('set','k','v')", b"0"]));
        got.push(raw.cmd(&[b"MULTI"]));
        got.push(raw.cmd(&[b"INCR", b"n"]));
        got.push(raw.cmd(&[b"EXEC"]));
        got.push(raw.cmd(&[b"SAVE"]));
        got.push(raw.cmd(&[b"CONFIG", b"SET", b"stop-writes-on-bgsave-error", b"no"]));
        got.push(raw.cmd(&[b"SET", b"k", b"v"]));
        replies.push(got);
    }
    assert_eq!(show(&replies[0]), show(&replies[1]));
    assert!(String::from_utf8_lossy(&replies[0][2]).starts_with("-MISCONF Redis is configured"));
}

/// One key per database, in encodings whose bytes do not depend on a hash seed:
/// the key sections of the two servers' files are then the same bytes.
#[test]
fn key_sections_are_byte_identical_to_redis() {
    let cmds = vec![
        s(&["SELECT", "0"]),
        s(&["SET", "str", "hello"]),
        s(&["SELECT", "1"]),
        s(&["SET", "lzf", &"abcdefgh".repeat(40)]),
        s(&["PEXPIREAT", "lzf", "4102444800000"]),
        s(&["SELECT", "2"]),
        s(&["RPUSH", "list", "a", "1", "-70000", "9223372036854775807"]),
        s(&["SELECT", "3"]),
        s(&["HSET", "hash", "f", "v", "n", "12"]),
        s(&["SELECT", "4"]),
        s(&["SADD", "intset", "1", "-2", "5000000000"]),
        s(&["SELECT", "5"]),
        s(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]),
        s(&["SELECT", "6"]),
        s(&["SET", "int", "-987654"]),
        s(&["SELECT", "7"]),
        {
            let mut v = s(&["RPUSH", "biglist"]);
            v.extend((0..3000).map(|i| format!("element-{i}")));
            v
        },
        s(&["SELECT", "8"]),
        {
            let mut v = s(&["ZADD", "bigzset"]);
            v.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]));
            v
        },
        s(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=rdblib\nredis.register_function('rdbf', function(keys, args) return 7 end)",
        ]),
    ];
    // Under an LFU policy every key also carries its FREQ counter (deterministic
    // here: new keys start at 5, and the first access always increments).
    for policy in ["noeviction", "allkeys-lfu"] {
        let args = ["--maxmemory-policy", policy];
        let mut files = Vec::new();
        for srv in [ferredis(&args), oracle(&args)] {
            let mut con = srv.client();
            run(&mut con, &cmds);
            let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
            files.push(std::fs::read(srv.dir.join("dump.rdb")).unwrap());
        }
        compare_rdb_files(&files[0], &files[1], policy);
    }
}

fn compare_rdb_files(a: &[u8], b: &[u8], what: &str) {
    let files = [a.to_vec(), b.to_vec()];
    // From the first function (after the AUX fields, which hold times) to EOF.
    let body = |f: &[u8]| {
        let at = f
            .windows(2)
            .position(|w| w == [0xf5, 0xc3] || w == [0xf5, 0x40] || w == [0xf5, 0x56])
            .unwrap();
        f[at..f.len() - 8].to_vec()
    };
    assert_eq!(body(&files[0]), body(&files[1]), "{what}");
    if what != "noeviction" {
        assert!(
            files[0].windows(2).any(|w| w == [0xf9, 0x05]),
            "FREQ opcodes"
        );
    }
    // The same AUX fields, in the same order.
    let aux = |f: &[u8]| {
        let mut names = Vec::new();
        let mut i = 9;
        while f[i] == 0xfa {
            let klen = f[i + 1] as usize;
            names.push(String::from_utf8_lossy(&f[i + 2..i + 2 + klen]).into_owned());
            i += 2 + klen;
            // The value: a 6-bit length or an 8/16/32-bit integer.
            i += match f[i] {
                0xc0 => 2,
                0xc1 => 3,
                0xc2 => 5,
                b => 1 + (b & 0x3f) as usize,
            };
        }
        names
    };
    assert_eq!(aux(&files[0]), aux(&files[1]));
    assert_eq!(
        aux(&files[0]),
        ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"]
    );
}

#[test]
fn shutdown_flushall_and_debug_reload() {
    // SHUTDOWN saves when save points exist (and SAVE forces it; NOSAVE skips it).
    let fsrv = ferredis(&["--save", "3600 1"]);
    let mut f = fsrv.client();
    run(&mut f, &fixtures());
    let want = digest(&mut f);
    let _: Result<(), _> = redis::cmd("SHUTDOWN").query::<()>(&mut f);
    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "shutdown");
    drop(fsrv);
    let again = ferredis(&["--dir", dir.to_str().unwrap()]);
    let mut g = again.client();
    assert_eq!(digest(&mut g), want);
    // DEBUG RELOAD: save, flush (functions too) and load back.
    let ok: String = redis::cmd("DEBUG").arg("RELOAD").query(&mut g).unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(digest(&mut g), want);
    let fcall: i64 = redis::cmd("FCALL")
        .arg("rdbf")
        .arg(0)
        .query(&mut g)
        .unwrap();
    assert_eq!(fcall, 7);
    let err = redis::cmd("DEBUG")
        .arg("RELOAD")
        .arg("BOGUS")
        .query::<String>(&mut g)
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("only supports the MERGE, NOFLUSH and NOSAVE"));
    // FLUSHALL with save points writes the empty dataset at once.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("3600 1")
        .query(&mut g)
        .unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut g).unwrap();
    let empty = std::fs::read(dir.join("dump.rdb")).unwrap();
    assert!(
        !empty.windows(3).any(|w| w == b"str"),
        "FLUSHALL saved the empty dataset"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM schedules a clean shutdown: with save points, the final snapshot is
/// written first (server.c: sigShutdownHandler, then prepareForShutdown).
#[test]
fn sigterm_saves_before_exiting() {
    let mut fsrv = ferredis(&["--save", "3600 1"]);
    let mut f = fsrv.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut f).unwrap();
    let pid: i32 = info_field(&mut f, "server", "process_id").parse().unwrap();
    // SAFETY: a signal to the server this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while fsrv.alive() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "sigterm");
    let again = ferredis(&["--dir", dir.to_str().unwrap()]);
    let v: String = redis::cmd("GET")
        .arg("k")
        .query(&mut again.client())
        .unwrap();
    assert_eq!(v, "v");
    let _ = std::fs::remove_dir_all(&dir);
}

/// BGSAVE inside MULTI may not fork there: it is scheduled, and the cron starts it.
#[test]
fn bgsave_in_multi_is_scheduled_then_runs() {
    let fsrv = ferredis(&[]);
    let mut f = fsrv.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut f).unwrap();
    let (reply,): (String,) = redis::pipe().atomic().cmd("BGSAVE").query(&mut f).unwrap();
    assert_eq!(reply, "Background saving scheduled");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !fsrv.dir.join("dump.rdb").exists() {
        assert!(Instant::now() < deadline, "the scheduled BGSAVE never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(wait_bgsave(&mut f), "ok");
    assert_eq!(info_field(&mut f, "persistence", "rdb_saves"), "1");
}

/// `rdbchecksum no` writes eight zero bytes, which both servers accept unchecked.
#[test]
fn files_without_checksum_travel_both_ways() {
    let fsrv = ferredis(&["--rdbchecksum", "no"]);
    let mut f = fsrv.client();
    run(&mut f, &fixtures());
    let _: String = redis::cmd("SAVE").query(&mut f).unwrap();
    let file = std::fs::read(fsrv.dir.join("dump.rdb")).unwrap();
    assert_eq!(&file[file.len() - 8..], &[0u8; 8]);
    let dir = dir_with(&fsrv.dir.join("dump.rdb"), "nocrc-f");
    let redis = oracle(&["--dir", dir.to_str().unwrap()]);
    let mut r = redis.client();
    assert_eq!(digest(&mut r), digest(&mut f));
    let _ = std::fs::remove_dir_all(&dir);

    let redis = oracle(&["--rdbchecksum", "no"]);
    let mut r = redis.client();
    run(&mut r, &fixtures());
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    let dir = dir_with(&redis.dir.join("dump.rdb"), "nocrc-r");
    let again = ferredis(&["--dir", dir.to_str().unwrap()]);
    assert_eq!(digest(&mut again.client()), digest(&mut r));
    let _ = std::fs::remove_dir_all(&dir);
}
