//! Real clients, unchanged: the `redis` crate, redis-cli, redis-py and
//! redis-benchmark all work against ferredis as against Redis.

mod common;

use std::process::Command;

use common::Server;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The `redis` crate: SET with options, GET, DEL, EXISTS, pipelines, RESP3 via HELLO.
#[test]
fn redis_crate_round_trip() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let v: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
    assert_eq!(v, "hello");
    let old: Option<String> = redis::cmd("SET")
        .arg("greeting")
        .arg("hi")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    assert_eq!(old.as_deref(), Some("hello"));
    let (a, b): (i64, i64) = redis::pipe()
        .cmd("EXISTS")
        .arg("greeting")
        .arg("nope")
        .cmd("DEL")
        .arg("greeting")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (1, 1));
    let missing: Option<String> = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
    assert_eq!(missing, None);
    let err = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("EX")
        .arg("0")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid expire time in 'set' command"),
        "{err}"
    );
}

/// redis-cli, as a user types it.
#[test]
fn redis_cli_works() {
    if !have("redis-cli") {
        panic!("redis-cli is missing: scripts/test installs redis-tools");
    }
    let srv = Server::ferredis(&[]);
    let port = srv.port.to_string();
    let run = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(&["PING"]), "PONG\n");
    assert_eq!(run(&["SET", "k", "v", "EX", "100"]), "OK\n");
    assert_eq!(run(&["GET", "k"]), "v\n");
    assert_eq!(run(&["DBSIZE"]), "1\n");
    let hello = run(&["-3", "HELLO", "3"]);
    assert!(
        hello.contains("proto 3") || hello.contains("proto\n3"),
        "{hello}"
    );
    assert!(run(&["INFO", "server"]).contains("redis_version:7.0.15"));
    assert!(run(&["NOSUCH"]).starts_with("ERR unknown command 'NOSUCH'"));
}

/// redis-py, the client the seed documents use, unchanged: a cache and a SET NX lock.
#[test]
fn redis_py_works() {
    let srv = Server::ferredis(&[]);
    let script = format!(
        r#"
import redis
r = redis.Redis(host="127.0.0.1", port={port}, decode_responses=True)
assert r.ping()
assert r.set("cache:user:1", "alice", ex=60)
assert r.get("cache:user:1") == "alice"
assert r.set("lock:job", "token-1", nx=True, px=5000)
assert r.set("lock:job", "token-2", nx=True, px=5000) is None
assert r.get("lock:job") == "token-1"
assert r.delete("lock:job") == 1
assert r.exists("cache:user:1") == 1
r3 = redis.Redis(host="127.0.0.1", port={port}, protocol=3, decode_responses=True)
assert r3.get("cache:user:1") == "alice"
print("ok")
"#,
        port = srv.port
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-py failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// redis-benchmark -t ping,set,get runs to completion.
#[test]
fn redis_benchmark_runs() {
    if !have("redis-benchmark") {
        panic!("redis-benchmark is missing: scripts/test installs redis-tools");
    }
    let srv = Server::ferredis(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &srv.port.to_string(),
            "-t",
            "ping,set,get",
            "-n",
            "20000",
            "-c",
            "20",
            "-P",
            "8",
            "-q",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for t in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
        assert!(text.contains(&format!("{t}: ")), "missing {t} in {text}");
    }
}
