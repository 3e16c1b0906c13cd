//! The append-only file over real sockets: what it contains (byte for byte as
//! redis-server 7.0.15 writes it), appendonlydirs moving between ferredis and
//! redis-server, what survives SIGKILL and a modelled power loss under each fsync
//! policy, truncated files, and -MISCONF when the disk fails. Every test runs in
//! the I/O mode FERREDIS_IO_MODE selects.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{encode, fresh_dir, Kind, Raw, Server};

/// Every server of this suite runs with the AOF on, logging to log.txt in its
/// directory. Under everysec, Redis and ferredis postpone a write up to 2 s while a
/// background fsync runs, so a SIGKILL right after the last reply may lose it. Tests
/// that kill and compare need always; the everysec tests say so.
const AOF_ARGS: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--logfile",
    "log.txt",
    "--enable-debug-command",
    "yes",
];

/// A server on `dir` with the suite's arguments, started and loaded.
fn start(kind: Kind, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    Server::start_in(kind, dir, AOF_ARGS, extra, env)
}

/// The same, not started: for start-ups that must fail (`run_to_exit`).
fn unstarted(kind: Kind, dir: &Path) -> Server {
    Server::on_dir(kind, dir, AOF_ARGS, true)
}

fn aof_dir(p: &Server) -> PathBuf {
    p.dir.join("appendonlydir")
}

fn read_aof(p: &Server, name: &str) -> Vec<u8> {
    std::fs::read(aof_dir(p).join(name)).unwrap_or_default()
}

fn cmd(r: &mut Raw, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    r.cmd(&a)
}

fn digest(p: &Server) -> String {
    let mut c = p.client();
    redis::cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap()
}

/// Absolute times differ between two servers run one after the other: mask the
/// argument after PXAT / PEXPIREAT / EXAT (13 digits of milliseconds).
fn normalise(aof: &[u8]) -> String {
    let text = String::from_utf8_lossy(aof).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut mask_next_value = false;
    let mut pexpireat_args = 0;
    for l in lines {
        let mut l = l.to_string();
        if l.starts_with('$') {
            out.push(l);
            continue;
        }
        if mask_next_value {
            l = "<time>".into();
            mask_next_value = false;
        }
        if pexpireat_args > 0 {
            pexpireat_args -= 1;
            if pexpireat_args == 0 {
                l = "<time>".into();
            }
        }
        if l.eq_ignore_ascii_case("PXAT") {
            mask_next_value = true;
        }
        if l.eq_ignore_ascii_case("PEXPIREAT") {
            pexpireat_args = 2;
        }
        out.push(l);
    }
    // Lengths of masked values may differ by nothing (13 digits both), keep them.
    out.join("\n")
}

/// Commands whose propagated form is deterministic, covering the rewrites Redis
/// makes for the AOF (relative times to absolute ones, float increments to SETs,
/// blocking pops to plain ones, scripts and transactions wrapped in MULTI/EXEC).
const CORPUS: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["SET", "b", "hello", "EX", "100"],
    &["SET", "b2", "v", "PX", "100000", "GET"],
    &["SETEX", "c", "100", "v"],
    &["PSETEX", "c2", "100000", "v"],
    &["SET", "kt", "v", "KEEPTTL"],
    &["SET", "nx", "v", "NX"],
    &["SET", "nx", "v", "NX"],
    &["GETEX", "b", "EX", "200"],
    &["GETEX", "b", "PERSIST"],
    &["GETDEL", "c2"],
    &["INCR", "a"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["APPEND", "s", "xyz"],
    &["SETRANGE", "s", "5", "ab"],
    &["EXPIRE", "a", "100"],
    &["PEXPIRE", "s", "100000"],
    &["EXPIREAT", "s", "4000000000"],
    &["EXPIRE", "nx", "-1"],
    &["PERSIST", "a"],
    &["SELECT", "2"],
    &["LPUSH", "l", "x", "y", "z"],
    &["RPOP", "l"],
    &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
    &["BLPOP", "l", "0"],
    &["SADD", "set", "1", "2", "3"],
    &["SREM", "set", "2"],
    &["SMOVE", "set", "set2", "3"],
    &["HSET", "h", "f", "v", "g", "w"],
    &["HINCRBYFLOAT", "h", "n", "2.5"],
    &["HDEL", "h", "g"],
    &["ZADD", "z", "1", "m", "2", "n"],
    &["ZINCRBY", "z", "3", "m"],
    &["ZPOPMIN", "z"],
    &["MULTI"],
    &["SET", "t", "1"],
    &["INCR", "t"],
    &["EXEC"],
    &[
        "EVAL",
        "redis.call('set','lua','1'); redis.call('incr','lua')",
        "0",
    ],
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=lib\nredis.register_function('f', function(k, a) return redis.call('incr', k[1]) end)",
    ],
    &["FCALL", "f", "1", "fk"],
    &["DEL", "nokey"],
    &["COPY", "t", "t2"],
    &["RENAME", "t2", "t3"],
    &["MOVE", "t3", "5"],
    &["SELECT", "0"],
    &["MSET", "m1", "1", "m2", "2"],
    &["FLUSHDB"],
    &["SET", "after", "flush"],
];

fn run_corpus(p: &Server) {
    let mut r = p.raw();
    for c in CORPUS {
        cmd(&mut r, c);
    }
}

#[test]
fn aof_content_equals_redis_for_the_same_commands() {
    let fdir = fresh_dir("content-f");
    let rdir = fresh_dir("content-r");
    let f = start(Kind::Ferredis, &fdir, &[], &[]);
    let r = start(Kind::Redis, &rdir, &[], &[]);
    run_corpus(&f);
    run_corpus(&r);
    // everysec: the buffer is written before the replies, so it is in the file.
    let fa = read_aof(&f, "appendonly.aof.1.incr.aof");
    let ra = read_aof(&r, "appendonly.aof.1.incr.aof");
    assert!(!ra.is_empty());
    assert_eq!(normalise(&fa), normalise(&ra));
    assert_eq!(
        read_aof(&f, "appendonly.aof.manifest"),
        read_aof(&r, "appendonly.aof.manifest")
    );
}

/// Ferredis's AOF replays into the same dataset, in ferredis and in redis-server,
/// and redis-server's into ferredis.
#[test]
fn appendonlydir_moves_between_ferredis_and_redis() {
    for preamble in ["yes", "no"] {
        let args = ["--aof-use-rdb-preamble", preamble];
        let fdir = fresh_dir("interop-f");
        let rdir = fresh_dir("interop-r");
        let mut f = start(Kind::Ferredis, &fdir, &args, &[]);
        let mut r = start(Kind::Redis, &rdir, &args, &[]);
        run_corpus(&f);
        run_corpus(&r);
        let df = digest(&f);
        let dr = digest(&r);
        assert_eq!(df, dr, "same commands, same dataset");
        f.kill();
        r.kill();
        // Swap the directories' contents.
        let fa = fdir.join("appendonlydir");
        let ra = rdir.join("appendonlydir");
        let tmp = fdir.join("tmpdir");
        std::fs::rename(&fa, &tmp).unwrap();
        std::fs::rename(&ra, &fa).unwrap();
        std::fs::rename(&tmp, &ra).unwrap();
        f.restart(&args, &[]);
        r.restart(&args, &[]);
        assert_eq!(digest(&f), dr, "redis-server's AOF loaded by ferredis");
        assert_eq!(digest(&r), df, "ferredis's AOF loaded by redis-server");
    }
}

/// Writers doing SET and INCR record what the server acknowledged; after SIGKILL
/// and a restart every acknowledged write must be there.
fn crash_round(p: &mut Server, env: &[(&str, &str)], run_ms: u64) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let acked_incr = Arc::new(AtomicU64::new(0));
    let acked_sets: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for w in 0..4 {
        let port = p.port;
        let stop = stop.clone();
        let acked_incr = acked_incr.clone();
        let acked_sets = acked_sets.clone();
        handles.push(std::thread::spawn(move || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("w{w}:k{i}");
                let val = format!("v{i}");
                let (req, is_incr) = if i.is_multiple_of(2) {
                    (encode(&[b"SET", key.as_bytes(), val.as_bytes()]), false)
                } else {
                    (encode(&[b"INCR", b"counter"]), true)
                };
                if s.write_all(&req).is_err() {
                    return;
                }
                let mut buf = [0u8; 64];
                match s.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        if is_incr {
                            // The reply is the counter's value: the acknowledged max.
                            let v: u64 = std::str::from_utf8(&buf[1..n])
                                .unwrap()
                                .trim()
                                .parse()
                                .unwrap();
                            acked_incr.fetch_max(v, Ordering::SeqCst);
                        } else {
                            assert_eq!(&buf[..n], b"+OK\r\n");
                            acked_sets.lock().unwrap().push((key, val));
                        }
                    }
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(run_ms));
    // On a loaded machine make sure some writes were acknowledged before the kill.
    let deadline = Instant::now() + Duration::from_secs(5);
    while acked_sets.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    p.kill();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    p.restart(&[], env);
    let mut c = p.client();
    let counter: Option<u64> = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    let acked = acked_incr.load(Ordering::SeqCst);
    let sets = acked_sets.lock().unwrap();
    let mut missing = 0;
    for (k, v) in sets.iter() {
        let got: Option<String> = redis::cmd("GET").arg(k).query(&mut c).unwrap();
        if got.as_deref() != Some(v) {
            missing += 1;
        }
    }
    assert!(acked > 0 && !sets.is_empty(), "the writers wrote nothing");
    let lost_incr = acked.saturating_sub(counter.unwrap_or(0));
    (lost_incr, missing)
}

#[test]
fn crash_under_appendfsync_always_loses_no_acknowledged_write() {
    let dir = fresh_dir("crash");
    let args = ["--appendfsync", "always"];
    let mut p = start(Kind::Ferredis, &dir, &args, &[]);
    let mut seed = std::process::id() as u64;
    for round in 0..10 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let run_ms = 100 + (seed >> 33) % 400;
        let (lost_incr, missing) = crash_round(&mut p, &[], run_ms);
        assert_eq!(lost_incr, 0, "round {round}: acknowledged INCRs lost");
        assert_eq!(missing, 0, "round {round}: acknowledged SETs lost");
        // The next round starts from what was recovered.
        p.kill();
        p.restart(&args, &[]);
    }
}

/// With a file layer that drops whatever was not fsynced when the process dies
/// (a power loss), `always` still loses nothing acknowledged.
#[test]
fn power_loss_under_always_loses_nothing_acknowledged() {
    let env = [("FERREDIS_TEST_DROP_UNSYNCED", "1")];
    let dir = fresh_dir("power-always");
    let args = ["--appendfsync", "always"];
    let mut p = start(Kind::Ferredis, &dir, &args, &env);
    for round in 0..3 {
        let (lost_incr, missing) = crash_round(&mut p, &env, 300);
        assert_eq!(lost_incr, 0, "round {round}");
        assert_eq!(missing, 0, "round {round}");
        p.kill();
        p.restart(&args, &env);
    }
}

/// Under `everysec` the same power loss may lose writes, but only those of the
/// last two seconds or so: everything acknowledged earlier is on disk.
#[test]
fn power_loss_under_everysec_loses_at_most_the_last_seconds() {
    let env = [("FERREDIS_TEST_DROP_UNSYNCED", "1")];
    let dir = fresh_dir("power-everysec");
    let mut p = start(Kind::Ferredis, &dir, &["--appendfsync", "everysec"], &env);
    let mut r = p.raw();
    // Acknowledged writes, with the time each was acknowledged.
    let mut acked = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_millis(3500) {
        i += 1;
        let k = format!("k{i}");
        assert_eq!(cmd(&mut r, &["SET", &k, "v"]), b"+OK\r\n");
        acked.push((k, Instant::now()));
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed_at = Instant::now();
    p.kill();
    p.restart(&["--appendfsync", "everysec"], &env);
    let mut c = p.client();
    let mut lost = 0;
    for (k, at) in &acked {
        let e: bool = redis::cmd("EXISTS").arg(k).query(&mut c).unwrap();
        if !e {
            lost += 1;
            let age = killed_at.duration_since(*at);
            assert!(
                age < Duration::from_millis(2500),
                "{k} acknowledged {age:?} before the power loss was lost"
            );
        }
    }
    eprintln!(
        "everysec: {lost} of {} acknowledged writes lost",
        acked.len()
    );
}

/// Writes a small valid AOF directory (base as commands, one incr) for the
/// truncation tests; `tail` is appended to the incr file.
fn write_aof_dir(dir: &Path, incr: &[u8]) {
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    std::fs::write(
        d.join("appendonly.aof.1.base.aof"),
        encode(&[b"SET", b"base", b"1"]),
    )
    .unwrap();
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), incr).unwrap();
}

#[test]
fn truncated_aof_loads_with_aof_load_truncated_yes_and_fails_with_no() {
    let mut incr = encode(&[b"SET", b"a", b"1"]);
    incr.extend_from_slice(&encode(&[b"INCR", b"a"]));
    let valid = incr.len();
    incr.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nhel");
    for kind in [Kind::Ferredis, Kind::Redis] {
        // yes: loads what is whole, truncates the file there, and says so.
        let dir = fresh_dir("trunc-yes");
        write_aof_dir(&dir, &incr);
        let p = start(kind, &dir, &["--aof-load-truncated", "yes"], &[]);
        let mut c = p.client();
        let a: String = redis::cmd("GET").arg("a").query(&mut c).unwrap();
        assert_eq!(a, "2");
        let base: String = redis::cmd("GET").arg("base").query(&mut c).unwrap();
        assert_eq!(base, "1");
        let log = p.log();
        assert!(
            log.contains(
                "!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
            ),
            "{kind:?}: {log}"
        );
        assert!(log.contains(&format!(
            "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset {valid} !!!"
        )));
        assert!(log.contains(
            "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled"
        ));
        // New writes go after the cut, and the file loads cleanly next time.
        drop(c);
        drop(p);

        // no: refuses to start, exit code 1, Redis's advice in the log.
        let dir = fresh_dir("trunc-no");
        write_aof_dir(&dir, &incr);
        let mut p = unstarted(kind, &dir);
        let code = p.run_to_exit(&["--aof-load-truncated", "no"]);
        assert_eq!(code, 1, "{kind:?}");
        let log = p.log();
        assert!(
            log.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."),
            "{kind:?}: {log}"
        );
    }
}

#[test]
fn multi_without_exec_at_the_end_is_dropped() {
    let mut incr = encode(&[b"SET", b"a", b"1"]);
    incr.extend_from_slice(&encode(&[b"MULTI"]));
    incr.extend_from_slice(&encode(&[b"SET", b"b", b"1"]));
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("multi");
        write_aof_dir(&dir, &incr);
        let p = start(kind, &dir, &[], &[]);
        let mut c = p.client();
        let b: Option<String> = redis::cmd("GET").arg("b").query(&mut c).unwrap();
        assert_eq!(b, None, "{kind:?}");
        let a: String = redis::cmd("GET").arg("a").query(&mut c).unwrap();
        assert_eq!(a, "1");
        assert!(p.log().contains(
            "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof"
        ));
        let len = std::fs::metadata(aof_dir(&p).join("appendonly.aof.1.incr.aof"))
            .unwrap()
            .len();
        assert_eq!(
            len as usize,
            encode(&[b"SET", b"a", b"1"]).len(),
            "{kind:?}"
        );
    }
}

#[test]
fn bad_manifest_stops_start_up_as_redis_does() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("manifest");
        let d = dir.join("appendonlydir");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("appendonly.aof.manifest"),
            "file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        let mut p = unstarted(kind, &dir);
        assert_eq!(p.run_to_exit(&[]), 1);
        let log = p.log();
        assert!(
            log.contains("*** FATAL AOF MANIFEST FILE ERROR ***"),
            "{log}"
        );
        assert!(
            log.contains("Found a non-monotonic sequence number"),
            "{log}"
        );
    }
}

/// A failing disk under everysec: writes get -MISCONF until a write succeeds again;
/// under always the server exits before any reply leaves.
#[test]
fn misconf_while_the_aof_cannot_be_written() {
    let dir = fresh_dir("misconf");
    let flag = dir.join("fail-writes");
    let env = [("FERREDIS_TEST_AOF_WRITE_ERROR", flag.to_str().unwrap())];
    let mut p = start(Kind::Ferredis, &dir, &["--appendfsync", "everysec"], &env);
    let mut r = p.raw();
    assert_eq!(cmd(&mut r, &["SET", "a", "1"]), b"+OK\r\n");
    std::fs::write(&flag, b"").unwrap();
    // This write's flush fails; its reply was already decided.
    assert_eq!(cmd(&mut r, &["SET", "a", "2"]), b"+OK\r\n");
    assert_eq!(
        cmd(&mut r, &["SET", "a", "3"]),
        b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    );
    assert!(cmd(&mut r, &["PING"]).starts_with(b"-MISCONF"));
    assert_eq!(
        cmd(&mut r, &["GET", "a"]),
        b"$1\r\n2\r\n",
        "reads still work"
    );
    let info = String::from_utf8(cmd(&mut r, &["INFO", "persistence"])).unwrap();
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    std::fs::remove_file(&flag).unwrap();
    // serverCron retries once a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if cmd(&mut r, &["SET", "a", "4"]) == b"+OK\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(p
        .log()
        .contains("AOF write error looks solved, Redis can write again."));
    drop(r);
    p.kill();

    // always: the write error ends the process; the client gets no reply.
    p.restart(&["--appendfsync", "always"], &env);
    let mut r = p.raw();
    assert_eq!(cmd(&mut r, &["SET", "b", "1"]), b"+OK\r\n");
    std::fs::write(&flag, b"").unwrap();
    r.send(&encode(&[b"SET", b"b", b"2"]));
    assert_eq!(
        r.read_to_close(),
        b"",
        "no acknowledgement for a write not on disk"
    );
    assert_eq!(p.wait_exit(), 1);
    assert!(p.log().contains(
        "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
    ));
    std::fs::remove_file(&flag).unwrap();
    p.restart(&["--appendfsync", "always"], &env);
    let mut c = p.client();
    let b: String = redis::cmd("GET").arg("b").query(&mut c).unwrap();
    assert_eq!(b, "1");
}

#[test]
fn config_set_appendonly_and_info_fields() {
    let dir = fresh_dir("config");
    let p = start(Kind::Ferredis, &dir, &[], &[]);
    let mut r = p.raw();
    assert_eq!(
        cmd(&mut r, &["CONFIG", "SET", "appendfsync", "sometimes"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no\r\n".to_vec()
    );
    assert_eq!(
        cmd(&mut r, &["CONFIG", "SET", "appendfilename", "x"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'appendfilename') - can't set immutable config\r\n".to_vec()
    );
    assert_eq!(
        cmd(&mut r, &["CONFIG", "SET", "appendfsync", "always"]),
        b"+OK\r\n"
    );
    let info = String::from_utf8(cmd(&mut r, &["INFO", "persistence"])).unwrap();
    for f in [
        "aof_enabled:1",
        "aof_rewrite_in_progress:0",
        "aof_last_write_status:ok",
        "aof_buffer_length:0",
        "aof_pending_bio_fsync:0",
    ] {
        assert!(info.contains(f), "{f} in {info}");
    }
    assert_eq!(
        cmd(&mut r, &["CONFIG", "SET", "appendonly", "no"]),
        b"+OK\r\n"
    );
    let info = String::from_utf8(cmd(&mut r, &["INFO", "persistence"])).unwrap();
    assert!(info.contains("aof_enabled:0"));
    assert!(!info.contains("aof_current_size"));
    // Nothing written while off reaches the file.
    let before = read_aof(&p, "appendonly.aof.1.incr.aof");
    cmd(&mut r, &["SET", "off", "1"]);
    assert_eq!(read_aof(&p, "appendonly.aof.1.incr.aof"), before);
}

/// The AOF excerpt the book's AOF chapter shows, generated from the real server
/// (absolute times masked). Stale when the server writes something else; run with
/// `UPDATE_BOOK=1` to rewrite it.
#[test]
fn transcript_aof_incr_file() {
    let dir = fresh_dir("book");
    let p = start(Kind::Ferredis, &dir, &[], &[]);
    let mut r = p.raw();
    let mut text = String::new();
    for c in [
        &["SET", "session:42", "alice", "EX", "3600"][..],
        &["INCRBYFLOAT", "balance", "2.5"],
        &["EXPIRE", "balance", "60"],
        &["MULTI"],
        &["LPUSH", "queue", "job1"],
        &["INCR", "jobs"],
        &["EXEC"],
        &["SELECT", "1"],
        &["DEL", "nothing-here"],
        &["SET", "k", "v"],
    ] {
        text.push_str(&format!("> {}\n", c.join(" ")));
        cmd(&mut r, c);
    }
    text.push_str("\nappendonlydir/appendonly.aof.1.incr.aof:\n");
    let aof = String::from_utf8(read_aof(&p, "appendonly.aof.1.incr.aof")).unwrap();
    let masked = normalise(aof.as_bytes());
    for l in masked.lines() {
        text.push_str(l);
        text.push('\n');
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/aof-incr.txt");
    if std::env::var("UPDATE_BOOK").is_ok() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        old,
        text,
        "{} is stale: run UPDATE_BOOK=1 cargo test --test persistence_aof transcript",
        path.display()
    );
}

fn info(c: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

fn wait_rewrite_done(c: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(c, "aof_rewrite_in_progress") != "0" || info(c, "aof_rewrite_scheduled") != "0" {
        assert!(Instant::now() < deadline, "the rewrite never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BGREWRITEAOF while 20 clients INCR one key 1000 times each: nothing is lost
/// across the switch to the new base and incr files, before and after a restart.
#[test]
fn bgrewriteaof_while_20_clients_incr() {
    for preamble in ["yes", "no"] {
        let dir = fresh_dir("rewrite");
        let args = ["--aof-use-rdb-preamble", preamble];
        let mut p = start(Kind::Ferredis, &dir, &args, &[]);
        let mut c = p.client();
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg("x".repeat(1000))
            .query(&mut c)
            .unwrap();
        let port = p.port;
        let writers: Vec<_> = (0..20)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut r = Raw::connect(port);
                    for _ in 0..1000 {
                        let rep = r.cmd(&[b"INCR", b"counter"]);
                        assert_eq!(rep[0], b':');
                    }
                })
            })
            .collect();
        let mut rewrites = 0;
        while writers.iter().any(|h| !h.is_finished()) {
            let r: redis::RedisResult<String> = redis::cmd("BGREWRITEAOF").query(&mut c);
            if r.is_ok() {
                rewrites += 1;
            }
            // The event loop keeps answering while the child writes.
            let t = Instant::now();
            let _: String = redis::cmd("PING").query(&mut c).unwrap();
            assert!(t.elapsed() < Duration::from_secs(2));
            std::thread::sleep(Duration::from_millis(30));
        }
        for h in writers {
            h.join().unwrap();
        }
        wait_rewrite_done(&mut c);
        assert!(rewrites >= 1);
        assert_eq!(info(&mut c, "aof_last_bgrewrite_status"), "ok");
        let n: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
        assert_eq!(n, 20000);
        // One base, one incr, no history left behind.
        let manifest = String::from_utf8(read_aof(&p, "appendonly.aof.manifest")).unwrap();
        assert_eq!(
            manifest.lines().filter(|l| l.ends_with("type b")).count(),
            1
        );
        assert_eq!(
            manifest.lines().filter(|l| l.ends_with("type i")).count(),
            1
        );
        assert!(!manifest.contains("type h"), "{manifest}");
        let suffix = if preamble == "yes" {
            ".base.rdb"
        } else {
            ".base.aof"
        };
        assert!(manifest.contains(suffix), "{manifest}");
        let files = std::fs::read_dir(aof_dir(&p)).unwrap().count();
        assert_eq!(
            files, 3,
            "only the manifest, the base and the incr file remain"
        );
        drop(c);
        p.kill();
        p.restart(&args, &[]);
        let mut c = p.client();
        let n: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
        assert_eq!(n, 20000, "after a restart (preamble {preamble})");
    }
}

/// The replies of BGREWRITEAOF in each situation, as redis-server gives them.
#[test]
fn bgrewriteaof_replies_as_redis() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("rewrite-replies");
        let p = start(kind, &dir, &["--rdb-key-save-delay", "2000"], &[]);
        let mut r = p.raw();
        for i in 0..500 {
            cmd(&mut r, &["SET", &format!("k{i}"), "v"]);
        }
        assert_eq!(
            cmd(&mut r, &["BGREWRITEAOF"]),
            b"+Background append only file rewriting started\r\n",
            "{kind:?}"
        );
        assert_eq!(
            cmd(&mut r, &["BGREWRITEAOF"]),
            b"-ERR Background append only file rewriting already in progress\r\n",
            "{kind:?}"
        );
        assert_eq!(
            cmd(&mut r, &["BGSAVE"]),
            b"-ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.\r\n",
            "{kind:?}"
        );
        let mut c = p.client();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("rdb-key-save-delay")
            .arg("0")
            .query(&mut c)
            .unwrap();
        // Stop the slow child; a new rewrite then runs at full speed.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("no")
            .query(&mut c)
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("yes")
            .query(&mut c)
            .unwrap();
        wait_rewrite_done(&mut c);
        assert_eq!(info(&mut c, "aof_enabled"), "1");
        assert_eq!(info(&mut c, "aof_last_bgrewrite_status"), "ok");
        // While a BGSAVE runs the rewrite is scheduled.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("rdb-key-save-delay")
            .arg("2000")
            .query(&mut c)
            .unwrap();
        let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
        assert_eq!(
            cmd(&mut r, &["BGREWRITEAOF"]),
            b"+Background append only file rewriting scheduled\r\n",
            "{kind:?}"
        );
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("rdb-key-save-delay")
            .arg("0")
            .query(&mut c)
            .unwrap();
    }
}

/// CONFIG SET appendonly yes at runtime writes a base of the current dataset in
/// a child, then switches to appending: everything survives a restart.
#[test]
fn appendonly_turned_on_at_runtime_keeps_everything() {
    let dir = fresh_dir("runtime");
    let mut p = start(Kind::Ferredis, &dir, &["--appendonly", "no"], &[]);
    let mut c = p.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut c)
        .unwrap();
    for i in 100..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    wait_rewrite_done(&mut c);
    for i in 200..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let d = digest(&p);
    let manifest = String::from_utf8(read_aof(&p, "appendonly.aof.manifest")).unwrap();
    assert!(manifest.contains("appendonly.aof.1.base.rdb"), "{manifest}");
    assert!(manifest.contains("appendonly.aof.1.incr.aof"), "{manifest}");
    drop(c);
    p.kill();
    p.restart(&[], &[]);
    assert_eq!(digest(&p), d);
    let mut c = p.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 300);
}

/// DEBUG LOADAOF reloads the dataset from the files, as a restart would.
#[test]
fn debug_loadaof_reloads_the_same_dataset() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("loadaof");
        let p = start(kind, &dir, &[], &[]);
        run_corpus(&p);
        let before = digest(&p);
        let mut r = p.raw();
        assert_eq!(cmd(&mut r, &["DEBUG", "LOADAOF"]), b"+OK\r\n", "{kind:?}");
        assert_eq!(digest(&p), before, "{kind:?}");
        assert!(p.log().contains("Append Only File loaded by DEBUG LOADAOF"));
    }
}

/// A 6.x-style `appendonly.aof` in `dir` is moved into the AOF directory and becomes
/// the base of a new manifest, as redis-server 7.0 does.
#[test]
fn old_style_aof_is_migrated_into_the_directory() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("upgrade");
        let mut old = encode(&[b"SET", b"old", b"1"]);
        old.extend_from_slice(&encode(&[b"RPUSH", b"l", b"a", b"b"]));
        std::fs::write(dir.join("appendonly.aof"), &old).unwrap();
        let p = start(kind, &dir, &[], &[]);
        let mut c = p.client();
        let v: String = redis::cmd("GET").arg("old").query(&mut c).unwrap();
        assert_eq!(v, "1", "{kind:?}");
        assert!(!dir.join("appendonly.aof").exists());
        assert_eq!(read_aof(&p, "appendonly.aof"), old);
        let manifest = String::from_utf8(read_aof(&p, "appendonly.aof.manifest")).unwrap();
        assert_eq!(
            manifest,
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
            "{kind:?}"
        );
        assert!(p.log().contains(
            "Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."
        ));
    }
}

/// With aof-timestamp-enabled, `#TS:` annotations appear where redis-server puts
/// them (one per second that saw writes), and are skipped when loading.
#[test]
fn timestamp_annotations_as_redis() {
    let fdir = fresh_dir("ts-f");
    let rdir = fresh_dir("ts-r");
    // appendfsync always: under everysec both servers may postpone a write while a
    // background fsync runs (up to 2 s, flushAppendOnlyFile), so the files would
    // differ by timing and a SIGKILL may lose the postponed writes, as Redis does.
    let args = ["--aof-timestamp-enabled", "yes", "--appendfsync", "always"];
    let mut f = start(Kind::Ferredis, &fdir, &args, &[]);
    let r = start(Kind::Redis, &rdir, &args, &[]);
    let (mut fr, mut rr) = (f.raw(), r.raw());
    for i in 0..3 {
        cmd(&mut fr, &["SET", "a", &i.to_string()]);
        cmd(&mut rr, &["SET", "a", &i.to_string()]);
    }
    let mask = |b: Vec<u8>| -> String {
        String::from_utf8(b)
            .unwrap()
            .lines()
            .map(|l| {
                if l.starts_with("#TS:") {
                    "#TS:<time>"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let fa = mask(read_aof(&f, "appendonly.aof.1.incr.aof"));
    let ra = mask(read_aof(&r, "appendonly.aof.1.incr.aof"));
    assert!(ra.starts_with("#TS:<time>"), "{ra}");
    // Both wrote their commands within one second (or both crossed one).
    assert_eq!(
        fa.replace("#TS:<time>\n", ""),
        ra.replace("#TS:<time>\n", "")
    );
    assert!(fa.starts_with("#TS:<time>"), "{fa}");
    drop(fr);
    f.kill();
    f.restart(&args, &[]);
    let mut c = f.client();
    let v: String = redis::cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(
        v,
        "2",
        "after restart; AOF now:\n{}\nmanifest:\n{}\nlog:\n{}",
        String::from_utf8_lossy(&read_aof(&f, "appendonly.aof.1.incr.aof")),
        String::from_utf8_lossy(&read_aof(&f, "appendonly.aof.manifest")),
        f.log()
    );
}

/// With aof-disable-auto-gc yes a rewrite keeps its history in the manifest, listed
/// as redis-server lists it; switching it off deletes the history files.
#[test]
fn rewrite_manifest_history_as_redis() {
    let mut manifests = Vec::new();
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("history");
        let p = start(kind, &dir, &["--aof-disable-auto-gc", "yes"], &[]);
        let mut c = p.client();
        for round in 0..2 {
            let _: () = redis::cmd("SET").arg("k").arg(round).query(&mut c).unwrap();
            let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
            wait_rewrite_done(&mut c);
        }
        let m = String::from_utf8(read_aof(&p, "appendonly.aof.manifest")).unwrap();
        assert!(m.contains("type h"), "{kind:?}: {m}");
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("aof-disable-auto-gc")
            .arg("no")
            .query(&mut c)
            .unwrap();
        // The bio thread unlinks in the background.
        std::thread::sleep(Duration::from_millis(100));
        let after = String::from_utf8(read_aof(&p, "appendonly.aof.manifest")).unwrap();
        assert!(!after.contains("type h"), "{kind:?}: {after}");
        assert_eq!(
            std::fs::read_dir(aof_dir(&p)).unwrap().count(),
            3,
            "{kind:?}"
        );
        manifests.push((m, after));
    }
    assert_eq!(manifests[0], manifests[1]);
}

/// A damaged RDB base (bad checksum) stops start-up, and the file is left as it was:
/// aof-load-truncated only ever cuts a file that ended early.
#[test]
fn corrupt_rdb_base_fails_start_up_and_is_not_truncated() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("corrupt-base");
        let mut p = start(kind, &dir, &[], &[]);
        let mut c = p.client();
        for i in 0..50 {
            let _: () = redis::cmd("SET")
                .arg(format!("key{i}"))
                .arg("value")
                .query(&mut c)
                .unwrap();
        }
        let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
        wait_rewrite_done(&mut c);
        drop(c);
        p.kill();
        let base = aof_dir(&p).join("appendonly.aof.2.base.rdb");
        let mut bytes = std::fs::read(&base).unwrap();
        // The checksum's last byte: a damage both servers must detect the same way.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(&base, &bytes).unwrap();
        assert_eq!(p.run_to_exit(&[]), 1, "{kind:?}");
        assert_eq!(std::fs::read(&base).unwrap(), bytes, "{kind:?}");
        let log = p.log();
        assert!(
            log.contains("Wrong RDB checksum expected: ("),
            "{kind:?}: {log}"
        );
    }
}

/// auto-aof-rewrite-percentage/min-size: serverCron starts a rewrite by itself once
/// the AOF has doubled past the minimum size.
#[test]
fn automatic_rewrite_on_growth() {
    let dir = fresh_dir("auto");
    let p = start(
        Kind::Ferredis,
        &dir,
        &[
            "--auto-aof-rewrite-min-size",
            "10kb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
        &[],
    );
    let mut c = p.client();
    for i in 0..400 {
        let _: () = redis::cmd("SET").arg("k").arg(i).query(&mut c).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while info(&mut c, "aof_rewrites") == "0" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_rewrite_done(&mut c);
    assert!(p.log().contains("Starting automatic rewriting of AOF on "));
    // The new base holds one key: the AOF shrank back under the minimum.
    let size: i64 = info(&mut c, "aof_current_size").parse().unwrap();
    assert!(size < 10 * 1024, "{size}");
}

/// When the rewrite that must start the AOF cannot run, CONFIG SET appendonly yes
/// fails with Redis's error and the AOF stays off.
#[test]
fn appendonly_yes_fails_when_the_directory_is_unusable() {
    for kind in [Kind::Ferredis, Kind::Redis] {
        let dir = fresh_dir("unusable");
        let p = start(kind, &dir, &["--appendonly", "no"], &[]);
        // A file where the directory should be.
        std::fs::write(dir.join("appendonlydir"), b"").unwrap();
        let mut r = p.raw();
        assert_eq!(
            cmd(&mut r, &["CONFIG", "SET", "appendonly", "yes"]),
            b"-ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.\r\n",
            "{kind:?}"
        );
        let mut c = p.client();
        assert_eq!(info(&mut c, "aof_enabled"), "0", "{kind:?}");
        assert_eq!(
            cmd(&mut r, &["CONFIG", "GET", "appendonly"]),
            b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
    }
}
