//! Ferredis beside mini-redis (crates.io, tokio's teaching server: a task per
//! connection and a `Mutex` around a `HashMap`): the same small programs against
//! both, to show which guarantees come from Redis's design of one executor and a
//! rich command set, and which from any mutex.
//!
//! mini-redis is not a dependency: `scripts/bench --mini-redis` installs it once
//! (`cargo install mini-redis --version 0.4.1 --root $CARGO_TARGET_DIR/mini-redis`).
//! These tests look for it at `MINI_REDIS_BIN` (which `scripts/test` sets after
//! installing it, and which must then exist), there, or under `target/mini-redis`,
//! and are skipped, saying so, when none is found outside scripts/test.
//!
//! Run: `cargo test --test mini_redis -- --nocapture`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{cli_format, cli_line, encode, reply_len, Server};

fn mini_redis_bin() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("MINI_REDIS_BIN") {
        // scripts/test sets it after installing mini-redis: there, a missing binary
        // is a failure, not a reason to skip.
        let p = PathBuf::from(p);
        assert!(p.exists(), "MINI_REDIS_BIN={} does not exist", p.display());
        return Some(p);
    }
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("mini-redis/bin/mini-redis-server"));
    }
    candidates.push(root.join("target/mini-redis/bin/mini-redis-server"));
    candidates.into_iter().find(|p| p.exists())
}

/// A mini-redis-server process, killed when dropped.
struct MiniRedis {
    child: Child,
    port: u16,
}

impl MiniRedis {
    fn start() -> Option<MiniRedis> {
        let Some(bin) = mini_redis_bin() else {
            eprintln!(
                "skipped: mini-redis is not installed (scripts/bench --mini-redis installs it)"
            );
            return None;
        };
        let port = common::free_port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mini-redis-server");
        let m = MiniRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(mut c) = Conn::open(port) {
                // It has no PING: any reply to GET will do.
                if c.cmd(&[b"GET", b"x"]).is_some() {
                    return Some(m);
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("mini-redis did not start");
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for MiniRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw connection that reports a server closing it instead of panicking
/// (mini-redis closes the connection on a command it cannot parse).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Option<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Some(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Option<Vec<u8>> {
        self.stream.write_all(&encode(args)).ok()?;
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return Some(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The same session against both servers, shown side by side, each reply the
/// server's own. Written to book/src/generated/mini-redis.txt (UPDATE_BOOK=1).
#[test]
fn transcript_ferredis_beside_mini_redis() {
    let Some(mini) = MiniRedis::start() else {
        return;
    };
    let fer = Server::ferredis(&[]);
    let steps: &[&[&[u8]]] = &[
        &[b"SET", b"counter", b"10"],
        &[b"GET", b"counter"],
        &[b"INCR", b"counter"],
        &[b"SET", b"lock", b"token-a", b"PX", b"5000"],
        &[b"SET", b"lock", b"token-b", b"NX", b"PX", b"5000"],
        &[b"GET", b"lock"],
        &[b"MULTI"],
        &[b"PING"],
        &[b"EXEC"],
    ];
    let mut out = String::new();
    for (name, port) in [("ferredis", fer.port), ("mini-redis", mini.port)] {
        let mut c = Conn::open(port).unwrap();
        for args in steps {
            out.push_str(&format!("{name}> {}\n", cli_line(args)));
            match c.cmd(args) {
                Some(reply) => out.push_str(&cli_format(&reply)),
                None => {
                    out.push_str("(connection closed by the server, no reply)\n");
                    c = Conn::open(port).unwrap();
                }
            }
        }
        out.push('\n');
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("book/src/generated/mini-redis.txt");
    if std::env::var("UPDATE_BOOK").is_ok() {
        std::fs::write(&path, &out).unwrap();
    } else {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            old, out,
            "mini-redis.txt is stale: UPDATE_BOOK=1 cargo test --test mini_redis"
        );
    }
}

/// Opens a connection to one of the servers.
type Connect<'a> = dyn Fn() -> redis::Connection + Sync + 'a;

/// One command at a time, both servers are atomic: 8 writers SET a 4 KiB value
/// made of one repeated byte while 4 readers GET it; no reader ever sees a value
/// mixing two writers' bytes. A mutex around the map guarantees this much.
#[test]
fn single_commands_are_atomic_on_both() {
    let Some(mini) = MiniRedis::start() else {
        return;
    };
    let fer = Server::ferredis(&[]);
    let conns: [(&str, Box<Connect>); 2] = [
        ("ferredis", Box::new(|| fer.client())),
        ("mini-redis", Box::new(|| mini.client())),
    ];
    for (name, connect) in &conns {
        let start = Arc::new(Barrier::new(12));
        thread::scope(|scope| {
            for w in 0..8u8 {
                let (mut con, start) = (connect(), start.clone());
                scope.spawn(move || {
                    start.wait();
                    for _ in 0..100 {
                        let _: () = redis::cmd("SET")
                            .arg("k")
                            .arg(vec![b'a' + w; 4096])
                            .query(&mut con)
                            .unwrap();
                    }
                });
            }
            for _ in 0..4 {
                let (mut con, start) = (connect(), start.clone());
                scope.spawn(move || {
                    start.wait();
                    for _ in 0..200 {
                        let v: Option<Vec<u8>> =
                            redis::cmd("GET").arg("k").query(&mut con).unwrap();
                        if let Some(v) = v {
                            assert_eq!(v.len(), 4096);
                            assert!(v.iter().all(|b| *b == v[0]), "{name}: a torn value");
                        }
                    }
                });
            }
        });
    }
}

// ANCHOR: lock_without_nx
/// Taking a lock with what mini-redis offers: GET, and SET if it was empty. The
/// interleaving that breaks it, played step by step: both clients see no lock,
/// both set it, both believe they hold it. Ferredis runs the check and the write
/// inside one command, `SET NX`, and only one client wins; mini-redis rejects
/// `NX` (and has no INCR, MULTI, WATCH or EVAL to build it from).
#[test]
fn a_lock_needs_a_read_modify_write_command() {
    let Some(mini) = MiniRedis::start() else {
        return;
    };
    let (mut a, mut b) = (mini.client(), mini.client());
    let seen_a: Option<String> = redis::cmd("GET").arg("lock").query(&mut a).unwrap();
    let seen_b: Option<String> = redis::cmd("GET").arg("lock").query(&mut b).unwrap();
    assert!(seen_a.is_none() && seen_b.is_none());
    let _: () = redis::cmd("SET")
        .arg("lock")
        .arg("a")
        .query(&mut a)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("lock")
        .arg("b")
        .query(&mut b)
        .unwrap();
    // Both went ahead: a holds nothing, although it was told the lock was free.
    let holder: String = redis::cmd("GET").arg("lock").query(&mut a).unwrap();
    assert_eq!(holder, "b");
    let nx: redis::RedisResult<Option<String>> = redis::cmd("SET")
        .arg("lock2")
        .arg("a")
        .arg("NX")
        .query(&mut mini.client());
    assert!(nx.is_err(), "mini-redis has no SET NX");

    let fer = Server::ferredis(&[]);
    let (mut a, mut b) = (fer.client(), fer.client());
    let won_a: Option<String> = redis::cmd("SET")
        .arg("lock")
        .arg("a")
        .arg("NX")
        .query(&mut a)
        .unwrap();
    let won_b: Option<String> = redis::cmd("SET")
        .arg("lock")
        .arg("b")
        .arg("NX")
        .query(&mut b)
        .unwrap();
    assert_eq!((won_a.is_some(), won_b.is_some()), (true, false));
}
// ANCHOR_END: lock_without_nx

/// A counter raced by 20 clients × 100: with GET+SET (all mini-redis allows)
/// both servers lose updates or at best keep them all; with INCR ferredis is
/// exact. Prints the counts.
#[test]
fn counter_race_on_both_servers() {
    let Some(mini) = MiniRedis::start() else {
        return;
    };
    let fer = Server::ferredis(&[]);
    const CLIENTS: usize = 20;
    const EACH: i64 = 100;
    let race = |connect: &(dyn Fn() -> redis::Connection + Sync), incr: bool| -> i64 {
        let start = Arc::new(Barrier::new(CLIENTS));
        thread::scope(|scope| {
            for _ in 0..CLIENTS {
                let (mut con, start) = (connect(), start.clone());
                scope.spawn(move || {
                    start.wait();
                    for _ in 0..EACH {
                        if incr {
                            let _: i64 = redis::cmd("INCR").arg("n").query(&mut con).unwrap();
                        } else {
                            let v: Option<i64> =
                                redis::cmd("GET").arg("n").query(&mut con).unwrap();
                            let _: () = redis::cmd("SET")
                                .arg("n")
                                .arg(v.unwrap_or(0) + 1)
                                .query(&mut con)
                                .unwrap();
                        }
                    }
                });
            }
        });
        let mut con = connect();
        let v: i64 = redis::cmd("GET").arg("n").query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("n").arg(0).query(&mut con).unwrap();
        v
    };
    let n = CLIENTS as i64 * EACH;
    let mini_getset = race(&|| mini.client(), false);
    let fer_getset = race(&|| fer.client(), false);
    let fer_incr = race(&|| fer.client(), true);
    eprintln!(
        "of {n} increments: mini-redis GET+SET kept {mini_getset}, ferredis GET+SET kept \
         {fer_getset}, ferredis INCR kept {fer_incr}"
    );
    assert!(mini_getset <= n && fer_getset <= n);
    assert_eq!(fer_incr, n);
}

/// A subscriber that reads slowly. mini-redis relays messages through a
/// broadcast channel of 1,024 slots per channel and skips what a lagging
/// subscriber missed; Redis queues them in the client's output buffer (up to
/// `client-output-buffer-limit pubsub`, then disconnects the client): a message is
/// never silently dropped. 4,000 messages of 4 KiB (16 MB, more than the socket
/// buffers hold) are published while the subscriber is not reading.
#[test]
fn a_slow_subscriber_loses_messages_on_mini_redis_only() {
    let Some(mini) = MiniRedis::start() else {
        return;
    };
    let fer = Server::ferredis(&["--client-output-buffer-limit", "pubsub 0 0 0"]);
    const N: usize = 4000;
    let mut got = Vec::new();
    for port in [fer.port, mini.port] {
        let mut sub = Conn::open(port).unwrap();
        sub.cmd(&[b"SUBSCRIBE", b"news"]).unwrap();
        let mut publisher = Conn::open(port).unwrap();
        let payload = vec![b'x'; 4096];
        for i in 0..N {
            let mut msg = format!("{i:06}").into_bytes();
            msg.extend_from_slice(&payload);
            publisher.cmd(&[b"PUBLISH", b"news", &msg]).unwrap();
        }
        // The marker, then read everything up to it.
        publisher.cmd(&[b"PUBLISH", b"news", b"end"]).unwrap();
        let mut received = 0;
        loop {
            let reply = sub.read_push().expect("the subscriber is still connected");
            if reply.ends_with(b"$3\r\nend\r\n") {
                break;
            }
            received += 1;
        }
        got.push(received);
    }
    eprintln!(
        "of {N} messages: ferredis delivered {}, mini-redis {}",
        got[0], got[1]
    );
    assert_eq!(got[0], N);
    assert!(got[1] < N, "mini-redis delivered everything");
}

impl Conn {
    /// The next message pushed to a subscriber.
    fn read_push(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return Some(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
