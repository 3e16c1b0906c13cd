//! The keyspace over real sockets: expiry (lazy and active), what is propagated to
//! replicas and the AOF, and maxmemory eviction.
//!
//! Run: `cargo test --release --test keyspace`

mod common;

use std::time::{Duration, Instant};

use common::Server;
use redis::Value;

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

fn info_u64(con: &mut redis::Connection, section: &str, field: &str) -> u64 {
    info_field(con, section, field).parse().unwrap()
}

/// Writes `n` keys `prefix:i` with a TTL of `px` ms, pipelined in batches.
fn fill_with_ttl(con: &mut redis::Connection, prefix: &str, n: usize, px: u64) {
    for start in (0..n).step_by(5000) {
        let mut p = redis::pipe();
        for i in start..(start + 5000).min(n) {
            p.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg("v")
                .arg("PX")
                .arg(px)
                .ignore();
        }
        p.query::<()>(con).unwrap();
    }
}

/// A key past its TTL is gone for every command that touches it, even with the
/// background cycle switched off: lazy expiry alone guarantees that.
#[test]
fn lazy_expiry_hides_and_deletes_keys_on_access() {
    let srv = Server::ferredis(&["--enable-debug-command", "yes"]);
    let mut con = srv.client();
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut con)
        .unwrap();
    fill_with_ttl(&mut con, "lazy", 100, 50);
    std::thread::sleep(Duration::from_millis(150));
    // Nothing touched them: still stored (DBSIZE counts stored keys).
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 100, "active expiry is off, so the keys are still stored");
    let v: Option<String> = redis::cmd("GET").arg("lazy:0").query(&mut con).unwrap();
    assert_eq!(v, None);
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 99, "GET deleted the expired key it touched");
    assert_eq!(info_u64(&mut con, "stats", "expired_keys"), 1);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert!(keys.is_empty(), "KEYS hides expired keys");
}

/// 100k keys whose TTL passes while no client touches them are all removed by the
/// active expire cycle, and INFO counts them.
#[test]
fn active_expiry_removes_100k_untouched_keys() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    fill_with_ttl(&mut con, "act", 100_000, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} keys still stored after 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(info_u64(&mut con, "stats", "expired_keys"), 100_000);
    let ks: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert!(!ks.contains("db0:"), "db0 still listed: {ks}");
}

/// The fast cycle and the slow cycle's time cap keep the server responsive while a
/// large volume of keys expires: no PING waits for a whole expiry backlog. The bound
/// is generous (the cycles' own budgets are 1 ms and 25 ms); a cycle that ignored its
/// time limit would hold the loop for the whole 300k-key backlog.
#[test]
fn expiry_backlog_does_not_stall_the_event_loop() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    fill_with_ttl(&mut con, "bk", 300_000, 300);
    std::thread::sleep(Duration::from_millis(400));
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
        worst = worst.max(t.elapsed());
        let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        if n == 0 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0, "backlog not expired");
    assert!(
        worst < Duration::from_millis(250),
        "a PING waited {worst:?} while keys expired"
    );
    assert!(
        info_u64(&mut con, "stats", "expired_time_cap_reached_count") > 0,
        "a 300k backlog must hit the cycle's time cap at least once"
    );
}

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

/// What replicas and the AOF will receive: relative times become absolute, results
/// replace recomputation, and expiries become DELs.
#[test]
fn propagation_rewrites_commands_as_redis_does() {
    let srv = Server::ferredis(&["--enable-debug-command", "yes"]);
    let mut con = srv.client();
    let _: () = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    // Only lazy expiry here, so the background cycle cannot take "short" first.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("EXPIRE")
        .arg("k")
        .arg(200)
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("1.5")
        .query(&mut con)
        .unwrap();
    let _: Option<String> = redis::cmd("GETEX")
        .arg("k")
        .arg("PX")
        .arg(5000)
        .query(&mut con)
        .unwrap();
    let _: Option<String> = redis::cmd("SET")
        .arg("g")
        .arg("1")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nokey").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(1)
        .query(&mut con)
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // Lazy expiry inside a command: the DEL comes first, then the command.
    let _: i64 = redis::cmd("APPEND")
        .arg("short")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("EXPIRE")
        .arg("g")
        .arg(-1)
        .query(&mut con)
        .unwrap();
    let log = propagated(&mut con);
    let ms = |s: &str| -> i64 { s.parse().unwrap() };
    assert_eq!(log[0], ["SELECT", "0"]);
    assert_eq!(&log[1][..4], ["SET", "k", "v", "PXAT"]);
    assert!(
        (ms(&log[1][4]) - (before + 100_000)).abs() < 5000,
        "{:?}",
        log[1]
    );
    assert_eq!(&log[2][..2], ["PEXPIREAT", "k"]);
    assert!((ms(&log[2][2]) - (before + 200_000)).abs() < 5000);
    assert_eq!(log[3], ["SET", "f", "1.5", "KEEPTTL"]);
    assert_eq!(&log[4][..2], ["PEXPIREAT", "k"]);
    assert!((ms(&log[4][2]) - (before + 5_000)).abs() < 5000);
    assert_eq!(
        log[5],
        ["SET", "g", "1"],
        "SET ... GET propagates without GET"
    );
    // GET changed nothing: not propagated.
    assert_eq!(&log[6][..4], ["SET", "short", "v", "PXAT"]);
    assert_eq!(log[7], ["MULTI"]);
    assert_eq!(log[8], ["DEL", "short"]);
    assert_eq!(log[9], ["APPEND", "short", "x"]);
    assert_eq!(log[10], ["EXEC"]);
    assert_eq!(
        log[11],
        ["DEL", "g"],
        "EXPIRE in the past propagates as DEL"
    );
    assert_eq!(log.len(), 12, "{log:?}");
}

/// maxmemory 20mb with allkeys-lru while 100 MB of values are written: memory stays
/// under the limit, and most of the 10% of keys that are used keep being found.
#[test]
fn eviction_keeps_memory_under_limit_and_hot_keys_resident() {
    let srv = Server::ferredis(&["--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut con = srv.client();
    let value = "x".repeat(1000);
    let total = 100_000; // 100 MB of values
    let hot = total / 10; // written first, then touched all along
    let limit = 20 * 1024 * 1024u64;
    let mut p = redis::pipe();
    for i in 0..hot {
        p.cmd("SET").arg(format!("hot:{i}")).arg(&value).ignore();
    }
    p.query::<()>(&mut con).unwrap();
    // The LRU clock ticks once a second, so a cold key is only "older" than a hot
    // one after a second; writing at ~6000 keys/s gives every cold key that long
    // before memory pressure reaches it (about 8000 cold keys fit).
    let batch = 1000;
    let pace = Duration::from_millis(170);
    let mut worst = 0;
    for start in (0..total - hot).step_by(batch) {
        let t0 = Instant::now();
        let mut p = redis::pipe();
        for i in start..start + batch {
            p.cmd("SET").arg(format!("cold:{i}")).arg(&value).ignore();
        }
        p.query::<()>(&mut con).unwrap();
        // Touch every hot key (TOUCH updates the access time without replying data).
        for chunk in (0..hot).collect::<Vec<_>>().chunks(1000) {
            let mut t = redis::cmd("TOUCH");
            for i in chunk {
                t.arg(format!("hot:{i}"));
            }
            let _: i64 = t.query(&mut con).unwrap();
        }
        let used = info_u64(&mut con, "memory", "used_memory");
        worst = worst.max(used);
        if let Some(rest) = pace.checked_sub(t0.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    // Eviction runs before each command; the command itself (here INFO building its
    // reply) then allocates a little, so Redis's own maxmemory tests allow 4096 bytes.
    assert!(
        worst < limit + 4096,
        "used_memory reached {worst}, above maxmemory {limit} + 4096"
    );
    let evicted = info_u64(&mut con, "stats", "evicted_keys");
    assert!(evicted > 50_000, "only {evicted} keys evicted");
    let mut resident = 0;
    for chunk in (0..hot).collect::<Vec<_>>().chunks(1000) {
        let mut e = redis::cmd("EXISTS");
        for i in chunk {
            e.arg(format!("hot:{i}"));
        }
        let n: usize = e.query(&mut con).unwrap();
        resident += n;
    }
    // Sampling is approximate, and while memory first fills every key is equally
    // recent at the clock's one-second resolution: Redis loses some hot keys there
    // too. Most must survive (81% in our runs).
    assert!(
        resident * 4 >= hot * 3,
        "only {resident} of {hot} hot keys survived"
    );
}

/// With noeviction, a command that may grow memory is refused past maxmemory with
/// Redis's exact error, while reads and deletes still work.
#[test]
fn oom_error_when_nothing_can_be_evicted() {
    let srv = Server::ferredis(&["--maxmemory", "2mb"]);
    let mut raw = srv.raw();
    let big = vec![b'x'; 512 * 1024];
    let mut refused = false;
    for i in 0..16 {
        let key = format!("big:{i}");
        let r = raw.cmd(&[b"SET", key.as_bytes(), &big]);
        if r.starts_with(b"-") {
            assert_eq!(
                r,
                b"-OOM command not allowed when used memory > 'maxmemory'.\r\n".to_vec()
            );
            refused = true;
            break;
        }
    }
    assert!(refused, "SET was never refused");
    assert!(raw.cmd(&[b"GET", b"big:0"]).starts_with(b"$"));
    assert_eq!(raw.cmd(&[b"DEL", b"big:0", b"big:1"]), b":2\r\n".to_vec());
}

/// Keys that expire at the end of time: the active cycle sums their TTLs for its
/// average, and that sum overflows as Redis's does (it wraps) instead of stopping
/// the server. (Debug builds check overflow, so this catches the panic there.)
#[test]
fn active_expiry_survives_ttls_near_the_end_of_time() {
    let srv = Server::ferredis(common::io_mode_args());
    let mut con = srv.client();
    for (k, at) in [
        ("end1", i64::MAX),
        ("end2", i64::MAX - 1),
        ("end3", i64::MAX - 2),
    ] {
        let () = redis::cmd("SET")
            .arg(k)
            .arg("v")
            .arg("PXAT")
            .arg(at)
            .query(&mut con)
            .unwrap();
    }
    // A few cron ticks (hz 10): the slow cycle samples all three keys each time.
    std::thread::sleep(Duration::from_millis(500));
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 3);
}
