//! Client-side caching with a real client: redis-py over RESP3 keeps a local cache
//! of what it read, drops entries on the server's invalidation pushes, and never
//! serves a value another client has since overwritten.

mod common;

use std::process::Command;

use common::{io_mode_args, Server};

/// The cache: `CLIENT TRACKING on`, read-through GETs, a push handler that evicts.
/// Before a cache hit the client round-trips a PING: any invalidation the server
/// queued for this connection before that point arrives ahead of the PING's reply.
const CACHE_CLIENT: &str = r#"
import sys, redis
port = int(sys.argv[1])
pool = redis.ConnectionPool(port=port, protocol=3, decode_responses=True)
conn = pool.get_connection()
cache = {}
invalidations = []
def on_invalidate(msg):
    # msg is ["invalidate", [keys]] or ["invalidate", None] after a flush
    invalidations.append(msg)
    keys = msg[1]
    if keys is None:
        cache.clear()
    else:
        for k in keys:
            cache.pop(k, None)
conn._parser.set_invalidation_push_handler(on_invalidate)
def cmd(*args):
    conn.send_command(*args)
    return conn.read_response()
assert cmd("CLIENT", "TRACKING", "on") == "OK"
hits = 0
def cached_get(k):
    global hits
    # Any invalidation already sent arrives before the reply of this PING.
    cmd("PING")
    if k in cache:
        hits += 1
        return cache[k]
    v = cmd("GET", k)
    cache[k] = v
    return v
w = redis.Redis(port=port, decode_responses=True)
for i in range(300):
    w.set("price", i)
    assert cached_get("price") == str(i), (i, cache)
    assert cached_get("price") == str(i)
    if i % 50 == 0:
        w.flushall()
        assert cached_get("price") is None
        w.set("price", i)
assert hits >= 300, hits
assert len(invalidations) >= 300, len(invalidations)
print("ok", hits, len(invalidations))
"#;

#[test]
fn redis_py_cache_is_never_stale() {
    let srv = Server::ferredis(io_mode_args());
    let out = Command::new("python3")
        .arg("-c")
        .arg(CACHE_CLIENT)
        .arg(srv.port.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "redis-py cache failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"));
}

/// tracking-table-max-keys bounds the table: past it, keys are invalidated (the
/// clients told to drop them) until the table fits again.
#[test]
fn the_table_stays_under_tracking_table_max_keys() {
    let mut args = vec!["--tracking-table-max-keys", "10"];
    args.extend_from_slice(io_mode_args());
    let srv = Server::ferredis(&args);
    let mut sub_con = srv.client();
    let sub_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut sub_con).unwrap();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("__redis__:invalidate").unwrap();
    let mut con = srv.client();
    let () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("on")
        .arg("REDIRECT")
        .arg(sub_id)
        .query(&mut con)
        .unwrap();
    for i in 0..100 {
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut con)
            .unwrap();
    }
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    let keys: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("tracking_total_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The limit is enforced before each command, so one read may exceed it.
    assert!(keys <= 11, "{keys} keys tracked");
    let mut invalidated = std::collections::HashSet::new();
    while invalidated.len() < 89 {
        let m = sub.get_message().unwrap();
        let ks: Vec<String> = m.get_payload().unwrap();
        invalidated.extend(ks);
    }
    assert!(invalidated.iter().all(|k| k.starts_with('k')));
}
