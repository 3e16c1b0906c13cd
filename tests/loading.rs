//! Serving while loading: the event loop turns while an RDB or AOF file loads (at
//! start-up, DEBUG RELOAD, DEBUG LOADAOF), so a client that connects meanwhile gets
//! `-LOADING` (or INFO's progress) at once instead of waiting in the listen backlog,
//! exactly as redis-server 7.0.15 answers in the same scenario.
//!
//! Run: `cargo test --test loading` (any FERREDIS_IO_MODE).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fresh_dir, Kind, Raw, Server};

const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";

/// Keys in the generated files: with key-load-delay 20 us a load lasts 1-2 s.
const KEYS: usize = 20_000;

/// An RDB file of KEYS strings, written by the real redis-server (DEBUG POPULATE).
fn big_rdb() -> Vec<u8> {
    let redis = Server::redis(&["--enable-debug-command", "yes"]);
    let mut r = redis.client();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(KEYS)
        .arg("key")
        .arg(100)
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    std::fs::read(redis.dir.join("dump.rdb")).unwrap()
}

/// A server of `kind` started on `dir`, slowed down so its load lasts a while, and
/// turning the loop every KiB of input. Returns as soon as it answers anything
/// (the harness's readiness probe takes -LOADING as an answer).
fn slow_loader(kind: Kind, dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
        "--key-load-delay",
        "20",
        "--loading-process-events-interval-bytes",
        "1024",
    ];
    args.extend_from_slice(extra);
    if kind == Kind::Ferredis {
        let mut all = common::io_mode_args().to_vec();
        all.extend_from_slice(&args);
        Server::ferredis(&all)
    } else {
        let mut all = common::io_mode_oracle_args();
        all.extend_from_slice(&args);
        Server::redis(&all)
    }
}

/// The INFO persistence text of a raw connection.
fn info_persistence(raw: &mut Raw) -> String {
    let reply = raw.cmd(&[b"INFO", b"persistence"]);
    String::from_utf8_lossy(&reply).into_owned()
}

/// The names of the `loading*` fields, in order.
fn loading_fields(info: &str) -> Vec<String> {
    info.lines()
        .filter(|l| l.starts_with("loading") || l.starts_with("async_loading"))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// Polls PING until the load is over; returns how many -LOADING replies it saw.
fn wait_loaded(raw: &mut Raw) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut loading = 0;
    loop {
        let reply = raw.cmd(&[b"PING"]);
        if reply == b"+PONG\r\n" {
            return loading;
        }
        assert_eq!(reply, LOADING, "while loading");
        loading += 1;
        assert!(Instant::now() < deadline, "the load never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a client that connects during the load sees: the -LOADING replies, INFO's
/// loading fields, and, once loaded, the whole dataset.
struct Seen {
    replies: Vec<Vec<u8>>,
    info_fields: Vec<String>,
    dbsize: Vec<u8>,
    digest: Vec<u8>,
}

fn probe_while_loading(srv: &Server) -> Seen {
    let mut raw = srv.raw();
    let mut replies = vec![
        raw.cmd(&[b"PING"]),
        raw.cmd(&[b"GET", b"key:1"]),
        raw.cmd(&[b"DBSIZE"]),
        // MULTI is allowed while loading; the queued GET is refused, so EXEC aborts.
        raw.cmd(&[b"MULTI"]),
        raw.cmd(&[b"GET", b"key:1"]),
        raw.cmd(&[b"EXEC"]),
        raw.cmd(&[b"CONFIG", b"GET", b"key-load-delay"]),
    ];
    let info = info_persistence(&mut raw);
    assert!(info.contains("\r\nloading:1\r\n"), "{info}");
    let fields = loading_fields(&info);
    // Still loading after all that: the replies above were all served mid-load.
    replies.push(raw.cmd(&[b"PING"]));
    assert!(wait_loaded(&mut raw) > 0);
    let info = info_persistence(&mut raw);
    assert!(info.contains("\r\nloading:0\r\n"), "{info}");
    assert!(!info.contains("loading_start_time"), "{info}");
    let dbsize = raw.cmd(&[b"DBSIZE"]);
    let digest = raw.cmd(&[b"DEBUG", b"DIGEST"]);
    Seen {
        replies,
        info_fields: fields,
        dbsize,
        digest,
    }
}

// ANCHOR: loading_test
/// The claim of the snapshots chapter: a client is never left hanging during start-up.
/// It connects while a big RDB loads and gets redis-server 7.0.15's replies byte for
/// byte (-LOADING for PING/GET, INFO's loading fields), then finds every key.
#[test]
fn clients_are_served_while_an_rdb_loads() {
    let rdb = big_rdb();
    let mut seen = Vec::new();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let dir = fresh_dir("rdb");
        std::fs::write(dir.join("dump.rdb"), &rdb).unwrap();
        let srv = slow_loader(kind, &dir, &[]);
        seen.push(probe_while_loading(&srv));
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (redis, ferredis) = (&seen[0], &seen[1]);
    assert_eq!(ferredis.replies[0], LOADING);
    assert_eq!(ferredis.replies[1], LOADING);
    for (i, (f, r)) in ferredis.replies.iter().zip(&redis.replies).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(f),
            String::from_utf8_lossy(r),
            "reply {i}"
        );
    }
    assert_eq!(
        ferredis.info_fields,
        [
            "loading",
            "async_loading",
            "loading_start_time",
            "loading_total_bytes",
            "loading_rdb_used_mem",
            "loading_loaded_bytes",
            "loading_loaded_perc",
            "loading_eta_seconds"
        ]
    );
    assert_eq!(ferredis.info_fields, redis.info_fields);
    assert_eq!(ferredis.dbsize, format!(":{KEYS}\r\n").into_bytes());
    assert_eq!(ferredis.dbsize, redis.dbsize);
    assert_eq!(ferredis.digest, redis.digest);
}
// ANCHOR_END: loading_test

/// Copies the files of `from` (and of its appendonlydir) into a fresh directory.
fn copy_dir(from: &Path, name: &str) -> PathBuf {
    let to = fresh_dir(name);
    for sub in ["", "appendonlydir"] {
        let _ = std::fs::create_dir_all(to.join(sub));
        for e in std::fs::read_dir(from.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    to
}

/// The same for an AOF replayed at start-up (the loop turns every 1024 commands),
/// against redis-server replaying the same files.
#[test]
fn clients_are_served_while_an_aof_loads() {
    let dir = fresh_dir("aof");
    {
        let mut args = common::io_mode_args().to_vec();
        args.extend_from_slice(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"]);
        let srv = Server::ferredis(&args);
        let mut f = srv.client();
        let mut pipe = redis::pipe();
        for i in 0..KEYS {
            pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        }
        let _: () = pipe.query(&mut f).unwrap();
    }
    let mut seen = Vec::new();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let copy = copy_dir(&dir, "aof-copy");
        let srv = slow_loader(kind, &copy, &["--appendonly", "yes"]);
        seen.push(probe_while_loading(&srv));
        drop(srv);
        let _ = std::fs::remove_dir_all(&copy);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (redis, ferredis) = (&seen[0], &seen[1]);
    assert_eq!(ferredis.replies[0], LOADING);
    for (i, (f, r)) in ferredis.replies.iter().zip(&redis.replies).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(f),
            String::from_utf8_lossy(r),
            "reply {i}"
        );
    }
    assert_eq!(ferredis.info_fields, redis.info_fields);
    assert_eq!(ferredis.dbsize, format!(":{KEYS}\r\n").into_bytes());
    assert_eq!(ferredis.digest, redis.digest);
}

/// DEBUG RELOAD and DEBUG LOADAOF load with the same progress callbacks: another
/// client gets -LOADING while they run, and the client that sent them gets +OK at
/// the end, with every key back.
#[test]
fn debug_reload_and_loadaof_serve_other_clients() {
    let dir = fresh_dir("reload");
    std::fs::write(dir.join("dump.rdb"), big_rdb()).unwrap();
    let srv = slow_loader(Kind::Ferredis, &dir, &[]);
    let mut raw = srv.raw();
    wait_loaded(&mut raw);
    // The AOF gets the dataset (its base is written by the rewrite CONFIG SET starts).
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"appendonly", b"yes"]),
        b"+OK\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"persistence"]))
        .contains("aof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0")
    {
        assert!(Instant::now() < deadline, "the AOF rewrite never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    for sub in [&b"RELOAD"[..], b"LOADAOF"] {
        let mut reloader = srv.raw();
        reloader.send(&common::encode(&[b"DEBUG", sub]));
        // Wait until the other client sees the load.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = raw.cmd(&[b"PING"]);
            if reply == LOADING {
                break;
            }
            assert_eq!(reply, b"+PONG\r\n");
            assert!(Instant::now() < deadline, "DEBUG {sub:?} never showed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(reloader.read_reply(), b"+OK\r\n");
        assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(raw.cmd(&[b"DBSIZE"]), format!(":{KEYS}\r\n").into_bytes());
    }
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The knob itself: a hidden config, plain integers from 1024 up, as in Redis.
#[test]
fn loading_process_events_interval_bytes_is_a_config() {
    let mut seen = Vec::new();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let srv = Server::start(kind, &[]);
        let mut raw = srv.raw();
        let mut out = Vec::new();
        for value in [None, Some(&b"1023"[..]), Some(b"4096"), None, Some(b"1mb")] {
            let name = &b"loading-process-events-interval-bytes"[..];
            let reply = match value {
                None => raw.cmd(&[b"CONFIG", b"GET", name]),
                Some(v) => raw.cmd(&[b"CONFIG", b"SET", name, v]),
            };
            out.push(String::from_utf8_lossy(&reply).into_owned());
        }
        seen.push(out);
    }
    assert_eq!(seen[1], seen[0]);
}

/// A SIGTERM during the load ends the server at once, without saving the half-loaded
/// dataset over the file even with save points (server.c: whileBlockedCron), and
/// with Redis's log line.
#[test]
fn sigterm_while_loading_exits_without_saving() {
    let rdb = big_rdb();
    for kind in [Kind::Redis, Kind::Ferredis] {
        let dir = fresh_dir("sigterm");
        std::fs::write(dir.join("dump.rdb"), &rdb).unwrap();
        let log = dir.join("server.log");
        let mut srv = slow_loader(
            kind,
            &dir,
            &["--save", "3600 1", "--logfile", log.to_str().unwrap()],
        );
        let mut raw = srv.raw();
        let info = String::from_utf8_lossy(&raw.cmd(&[b"INFO", b"server"])).into_owned();
        let pid: i32 = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(raw.cmd(&[b"PING"]), LOADING, "{kind:?}");
        // SAFETY: a signal to the server this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while srv.alive() {
            assert!(Instant::now() < deadline, "{kind:?}: no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            std::fs::read(dir.join("dump.rdb")).unwrap(),
            rdb,
            "{kind:?}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("Received shutdown signal during loading, scheduling shutdown."),
            "{kind:?}: {text}"
        );
        drop(srv);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
