//! The transcripts the book shows are generated here from the real server, never
//! typed by hand. The test fails when a committed transcript in
//! `book/src/generated/` no longer matches what the server does; run it with
//! `UPDATE_BOOK=1` to rewrite them.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{encode, CliSession, Raw, Server};

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn check(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("book/src/generated")
        .join(name);
    if std::env::var("UPDATE_BOOK").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        old,
        text,
        "{} is stale: run UPDATE_BOOK=1 cargo test --release --test book_transcripts",
        path.display()
    );
}

struct Transcript {
    out: String,
}

impl Transcript {
    fn new() -> Self {
        Transcript { out: String::new() }
    }
    fn exchange(&mut self, who: &str, conn: &mut Raw, args: &[&[u8]]) {
        let sent = encode(args);
        conn.send(&sent);
        let reply = conn.read_reply();
        self.out.push_str(&format!(
            "{who} -> \"{}\"\n{who} <- \"{}\"\n",
            escape(&sent),
            escape(&reply)
        ));
    }
    /// A reply nobody asked for on this connection: a published message.
    fn receive(&mut self, who: &str, conn: &mut Raw) {
        let reply = conn.read_reply();
        self.out
            .push_str(&format!("{who} <- \"{}\"\n", escape(&reply)));
    }
}

/// The SET NX exchange the setGenericCommand chapter shows: two clients, one lock.
#[test]
fn transcript_set_nx() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = Transcript::new();
    t.exchange(
        "A",
        &mut a,
        &[b"SET", b"lock", b"client-a", b"NX", b"PX", b"5000"],
    );
    t.exchange(
        "B",
        &mut b,
        &[b"SET", b"lock", b"client-b", b"NX", b"PX", b"5000"],
    );
    t.exchange("B", &mut b, &[b"GET", b"lock"]);
    t.exchange("A", &mut a, &[b"SET", b"lock", b"client-a", b"NX", b"XX"]);
    t.exchange("A", &mut a, &[b"SET", b"lock", b"client-a", b"PX", b"0"]);
    check("set-nx.txt", &t.out);
}

/// The MULTI/EXEC chapter's transcripts: a transaction queued then run, one doomed
/// by a queue-time error, and a WATCH broken by another client.
#[test]
fn transcript_multi_exec() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = Transcript::new();
    t.exchange("A", &mut a, &[b"MULTI"]);
    t.exchange("A", &mut a, &[b"SET", b"stock", b"10"]);
    t.exchange("A", &mut a, &[b"DECRBY", b"stock", b"3"]);
    t.exchange("B", &mut b, &[b"GET", b"stock"]);
    t.exchange("A", &mut a, &[b"EXEC"]);
    t.exchange("A", &mut a, &[b"MULTI"]);
    t.exchange("A", &mut a, &[b"DECRBY", b"stock"]);
    t.exchange("A", &mut a, &[b"DECRBY", b"stock", b"1"]);
    t.exchange("A", &mut a, &[b"EXEC"]);
    check("multi-exec.txt", &t.out);

    let mut t = Transcript::new();
    t.exchange("A", &mut a, &[b"WATCH", b"stock"]);
    t.exchange("A", &mut a, &[b"GET", b"stock"]);
    t.exchange("B", &mut b, &[b"DECRBY", b"stock", b"1"]);
    t.exchange("A", &mut a, &[b"MULTI"]);
    t.exchange("A", &mut a, &[b"SET", b"stock", b"6"]);
    t.exchange("A", &mut a, &[b"EXEC"]);
    t.exchange("A", &mut a, &[b"GET", b"stock"]);
    check("watch-exec.txt", &t.out);
}

/// The Pub/Sub chapter's transcript: a message, then keyspace events, where the
/// subscriber's events arrive before the writer's reply is even read.
#[test]
fn transcript_pubsub() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = Transcript::new();
    t.exchange("A", &mut a, &[b"SUBSCRIBE", b"news"]);
    t.exchange("B", &mut b, &[b"PUBLISH", b"news", b"hello"]);
    t.receive("A", &mut a);
    t.exchange(
        "B",
        &mut b,
        &[b"CONFIG", b"SET", b"notify-keyspace-events", b"E$"],
    );
    t.exchange("A", &mut a, &[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    t.exchange("B", &mut b, &[b"SET", b"stock", b"10"]);
    t.receive("A", &mut a);
    t.exchange("B", &mut b, &[b"INCRBY", b"stock", b"x"]);
    t.exchange("B", &mut b, &[b"INCRBY", b"stock", b"-3"]);
    t.receive("A", &mut a);
    check("pubsub.txt", &t.out);
}

/// The client-side caching chapter's transcript: a RESP3 client tracks what it
/// reads; another client's write reaches it as an invalidation push.
#[test]
fn transcript_tracking() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = Transcript::new();
    t.exchange("A", &mut a, &[b"HELLO", b"3"]);
    t.exchange("A", &mut a, &[b"CLIENT", b"TRACKING", b"on"]);
    t.exchange("A", &mut a, &[b"GET", b"user:1:name"]);
    t.exchange("B", &mut b, &[b"SET", b"user:1:name", b"alice"]);
    t.receive("A", &mut a);
    t.exchange("A", &mut a, &[b"GET", b"user:1:name"]);
    t.exchange("A", &mut a, &[b"SET", b"user:1:name", b"bob"]);
    t.receive("A", &mut a);
    check("tracking.txt", &t.out);
}

/// The EVAL chapter's transcripts: the lock-release script, an error raised through
/// redis.call, and a busy script killed from another connection.
#[test]
fn transcript_eval() {
    let srv = Server::ferredis(&["--busy-reply-threshold", "100"]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let unlock: &[u8] = b"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    let mut t = Transcript::new();
    t.exchange(
        "A",
        &mut a,
        &[b"SET", b"lock:order:42", b"token-a", b"NX", b"PX", b"30000"],
    );
    t.exchange(
        "B",
        &mut b,
        &[b"EVAL", unlock, b"1", b"lock:order:42", b"token-b"],
    );
    t.exchange(
        "A",
        &mut a,
        &[b"EVAL", unlock, b"1", b"lock:order:42", b"token-a"],
    );
    t.exchange(
        "A",
        &mut a,
        &[
            b"EVAL",
            b"return redis.call('incr', KEYS[1])",
            b"1",
            b"lock:order:42",
        ],
    );
    t.exchange("A", &mut a, &[b"SET", b"name", b"text"]);
    t.exchange(
        "A",
        &mut a,
        &[
            b"EVAL",
            b"return redis.call('incr', KEYS[1])",
            b"1",
            b"name",
        ],
    );
    check("eval.txt", &t.out);

    let mut t = Transcript::new();
    let busy: &[u8] = b"local i = 0 while true do i = i + 1 end";
    a.send(&encode(&[b"EVAL", busy, b"0"]));
    t.out.push_str(&format!(
        "A -> \"{}\"\n",
        escape(&encode(&[b"EVAL", busy, b"0"]))
    ));
    // Well past the 100 ms threshold, even on a loaded machine.
    std::thread::sleep(Duration::from_millis(1000));
    t.exchange("B", &mut b, &[b"GET", b"name"]);
    t.exchange("B", &mut b, &[b"SCRIPT", b"KILL"]);
    t.receive("A", &mut a);
    t.exchange("B", &mut b, &[b"GET", b"name"]);
    check("eval-busy.txt", &t.out);
}

/// Protocol errors and what the server sends before it closes the connection.
#[test]
fn transcript_protocol_errors() {
    let srv = Server::ferredis(&[]);
    let cases: &[&[u8]] = &[
        b"*abc\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\nx3\r\nfoo\r\n",
        b"*1\r\n$999999999999\r\n",
        b"SET k \"unbalanced\r\n",
        b"*-10\r\nPING\r\n",
        b"\r\n\r\nPING\r\n",
    ];
    let mut out = String::new();
    for case in cases {
        let mut c = srv.raw();
        c.send(case);
        c.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let closed = loop {
            match c.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        out.push_str(&format!(
            "-> \"{}\"\n<- \"{}\"{}\n",
            escape(case),
            escape(&got),
            if closed { "  (connection closed)" } else { "" }
        ));
    }
    check("protocol-errors.txt", &out);
}

/// One GET of a missing key in RESP2 and RESP3, and the HELLO that switches.
#[test]
fn transcript_resp2_resp3() {
    let srv = Server::ferredis(&[]);
    let mut c = srv.raw();
    let mut t = Transcript::new();
    t.exchange("C", &mut c, &[b"GET", b"missing"]);
    t.exchange("C", &mut c, &[b"CONFIG", b"GET", b"port"]);
    let hello = {
        c.send(&encode(&[b"HELLO", b"3"]));
        c.read_reply()
    };
    // The id and version fields are the same shape every run; keep the header only.
    let hello = String::from_utf8_lossy(&hello)
        .lines()
        .next()
        .unwrap()
        .to_string();
    t.out.push_str(&format!("C -> \"*2\\r\\n$5\\r\\nHELLO\\r\\n$1\\r\\n3\\r\\n\"\nC <- \"{}\\r\\n...\" (a map of 7 fields)\n", hello));
    t.exchange("C", &mut c, &[b"GET", b"missing"]);
    t.exchange("C", &mut c, &[b"CONFIG", b"GET", b"port"]);
    let port = srv.port.to_string();
    check(
        "resp2-resp3.txt",
        &t.out
            .replace(&port, "6379")
            .replace(&format!("${}\\r\\n6379", port.len()), "$4\\r\\n6379"),
    );
}

/// The trace of one SET through the pipeline (RUST_LOG=ferredis=trace), with the
/// pid, clock and timings replaced by placeholders.
#[test]
fn transcript_trace_of_one_set() {
    let port = common::free_port();
    let mut child = Command::new(common::ferredis_bin())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .env("RUST_LOG", "ferredis=trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut c = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break Raw::from_stream(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    c.send(&encode(&[b"SET", b"lock", b"v", b"NX", b"PX", b"5000"]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    let lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains(" . ["))
        .map(|l| {
            let rest = l.splitn(6, ' ').nth(5).unwrap_or("");
            let rest = regex_lite_usec(rest);
            format!("<pid>:M <date> <time> {rest}")
        })
        .collect();
    check("trace-set.txt", &(lines.join("\n") + "\n"));
}

/// Replace `usec=<digits>` with `usec=N`: timings differ between runs.
fn regex_lite_usec(s: &str) -> String {
    match s.find("usec=") {
        Some(i) => {
            let tail = &s[i + 5..];
            let end = tail
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(tail.len());
            format!("{}usec=N{}", &s[..i], &tail[end..])
        }
        None => s.to_string(),
    }
}

/// The small-encodings chapter: a hash and a set cross their thresholds. Only
/// replies whose order is fixed are shown (a hashtable's order is seeded at random).
#[test]
fn transcript_small_encodings() {
    let srv = Server::ferredis(&["--hash-max-listpack-entries", "4"]);
    let mut a = srv.raw();
    let mut t = Transcript::new();
    let steps: &[&[&[u8]]] = &[
        &[
            b"HSET",
            b"player:1",
            b"gold",
            b"10",
            b"xp",
            b"3",
            b"name",
            b"ann",
            b"quest:1",
            b"2",
        ],
        &[b"OBJECT", b"ENCODING", b"player:1"],
        &[b"HKEYS", b"player:1"],
        &[b"HSET", b"player:1", b"quest:2", b"1"],
        &[b"OBJECT", b"ENCODING", b"player:1"],
        &[b"HDEL", b"player:1", b"quest:1", b"quest:2"],
        &[b"OBJECT", b"ENCODING", b"player:1"],
        &[b"SADD", b"online", b"42", b"7", b"1000"],
        &[b"SMEMBERS", b"online"],
        &[b"OBJECT", b"ENCODING", b"online"],
        &[b"SADD", b"online", b"guest-5"],
        &[b"OBJECT", b"ENCODING", b"online"],
    ];
    for args in steps {
        t.exchange("A", &mut a, args);
    }
    check("small-encodings.txt", &t.out);
}

// ------------------------------------------------- "What people use Redis for"

/// Run `steps` on one connection as a redis-cli session.
fn cli_steps(t: &mut CliSession, conn: &mut Raw, steps: &[&[&[u8]]]) {
    for args in steps {
        t.run("", conn, args);
    }
}

/// The cache chapter: a miss, the fill with its TTL, a hit, the invalidation,
/// and the pitfall of a plain SET dropping the TTL.
#[test]
fn transcript_usecase_cache() {
    let srv = Server::ferredis(&[]);
    let mut c = srv.raw();
    let mut t = CliSession::new();
    cli_steps(
        &mut t,
        &mut c,
        &[
            &[b"GET", b"user:7"],
            &[b"SET", b"user:7", b"player-7", b"EX", b"60"],
            &[b"GET", b"user:7"],
            &[b"TTL", b"user:7"],
            &[b"SET", b"user:7", b"renamed"],
            &[b"TTL", b"user:7"],
            &[b"SET", b"user:7", b"player-7", b"EX", b"60"],
            &[b"SET", b"user:7", b"renamed", b"KEEPTTL"],
            &[b"TTL", b"user:7"],
            &[b"DEL", b"user:7"],
            &[b"GET", b"user:7"],
        ],
    );
    check("usecase-cache.txt", &t.out);
}

/// The counters chapter: the INCR family, its errors, and the rate limiter's
/// transaction.
#[test]
fn transcript_usecase_counters() {
    let srv = Server::ferredis(&[]);
    let mut c = srv.raw();
    let mut t = CliSession::new();
    cli_steps(
        &mut t,
        &mut c,
        &[
            &[b"INCR", b"page_views"],
            &[b"INCR", b"page_views"],
            &[b"INCRBY", b"page_views", b"10"],
            &[b"DECR", b"page_views"],
            &[b"GET", b"page_views"],
            &[b"OBJECT", b"ENCODING", b"page_views"],
            &[b"INCRBYFLOAT", b"balance", b"0.1"],
            &[b"INCRBYFLOAT", b"balance", b"0.2"],
            &[b"HINCRBY", b"player:1", b"gold", b"5"],
            &[b"SET", b"name", b"ann"],
            &[b"INCR", b"name"],
            &[b"SET", b"big", b"9223372036854775807"],
            &[b"INCR", b"big"],
            &[b"MULTI"],
            &[b"INCR", b"rate:alice:42"],
            &[b"EXPIRE", b"rate:alice:42", b"60", b"NX"],
            &[b"EXEC"],
            &[b"TTL", b"rate:alice:42"],
        ],
    );
    check("usecase-counters.txt", &t.out);
}

/// The queue chapter: FIFO with LPUSH/BRPOP, the reliable move into a
/// processing list, the acknowledgement, and a worker woken by a producer.
#[test]
fn transcript_usecase_queue() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = CliSession::new();
    t.run(
        "producer",
        &mut b,
        &[b"LPUSH", b"jobs", b"j1", b"j2", b"j3"],
    );
    t.run("worker", &mut a, &[b"BRPOP", b"jobs", b"1"]);
    t.run(
        "worker",
        &mut a,
        &[b"BLMOVE", b"jobs", b"processing", b"RIGHT", b"LEFT", b"1"],
    );
    t.run("worker", &mut a, &[b"LRANGE", b"jobs", b"0", b"-1"]);
    t.run("worker", &mut a, &[b"LRANGE", b"processing", b"0", b"-1"]);
    t.run("worker", &mut a, &[b"LREM", b"processing", b"1", b"j2"]);
    t.run(
        "worker",
        &mut a,
        &[b"BLMOVE", b"jobs", b"processing", b"RIGHT", b"LEFT", b"1"],
    );
    t.note("the queue is empty: the next BLMOVE waits for a producer");
    t.send(
        "worker",
        &mut a,
        &[b"BLMOVE", b"jobs", b"processing", b"RIGHT", b"LEFT", b"0"],
    );
    // Let the worker's command reach the server and block before the producer.
    std::thread::sleep(Duration::from_millis(200));
    t.run("producer", &mut b, &[b"LPUSH", b"jobs", b"j4"]);
    t.receive("worker", &mut a);
    t.run("worker", &mut a, &[b"LRANGE", b"processing", b"0", b"-1"]);
    check("usecase-queue.txt", &t.out);
}

/// The online-status chapter: presence keys with a TTL and MGET, then the
/// bitmap and the set versions.
#[test]
fn transcript_usecase_online() {
    let srv = Server::ferredis(&[]);
    let mut c = srv.raw();
    let mut t = CliSession::new();
    cli_steps(
        &mut t,
        &mut c,
        &[
            &[b"SET", b"online:42", b"game-a", b"EX", b"30"],
            &[b"SET", b"online:7", b"game-b", b"EX", b"30"],
            &[b"MGET", b"online:42", b"online:7", b"online:1000"],
            &[b"DEL", b"online:7"],
            &[b"MGET", b"online:42", b"online:7", b"online:1000"],
            &[b"SETBIT", b"online:bits", b"42", b"1"],
            &[b"SETBIT", b"online:bits", b"7", b"1"],
            &[b"SETBIT", b"online:bits", b"7", b"0"],
            &[b"GETBIT", b"online:bits", b"42"],
            &[b"BITCOUNT", b"online:bits"],
            &[b"STRLEN", b"online:bits"],
            &[b"SADD", b"online", b"42", b"7"],
            &[b"SREM", b"online", b"7"],
            &[b"SMISMEMBER", b"online", b"42", b"7", b"1000"],
            &[b"SCARD", b"online"],
        ],
    );
    check("usecase-online.txt", &t.out);
}

/// The bullet-comments chapter: comments appended, a batch moved in one
/// transaction, the period's lock.
#[test]
fn transcript_usecase_danmu() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let mut t = CliSession::new();
    t.run(
        "game-1",
        &mut a,
        &[b"RPUSH", b"netease:danmu:list", b"gg", b"nice shot", b"lol"],
    );
    t.run(
        "game-1",
        &mut a,
        &[b"SET", b"netease:danmu:lock", b"1", b"NX", b"PX", b"7000"],
    );
    t.run(
        "game-2",
        &mut b,
        &[b"SET", b"netease:danmu:lock", b"2", b"NX", b"PX", b"7000"],
    );
    let steps: &[&[&[u8]]] = &[
        &[b"MULTI"],
        &[b"LRANGE", b"netease:danmu:list", b"0", b"1"],
        &[b"LTRIM", b"netease:danmu:list", b"2", b"-1"],
        &[b"DEL", b"netease:danmu:latest"],
        &[b"EXEC"],
        &[b"RPUSH", b"netease:danmu:latest", b"gg", b"nice shot"],
        &[b"LRANGE", b"netease:danmu:list", b"0", b"-1"],
    ];
    for args in steps {
        t.run("game-1", &mut a, args);
    }
    t.run(
        "game-2",
        &mut b,
        &[b"LRANGE", b"netease:danmu:latest", b"0", b"-1"],
    );
    check("usecase-danmu.txt", &t.out);
}

/// The leaderboard chapter: ZINCRBY, the top with scores, a rank, ties.
#[test]
fn transcript_usecase_leaderboard() {
    let srv = Server::ferredis(&[]);
    let mut c = srv.raw();
    let mut t = CliSession::new();
    cli_steps(
        &mut t,
        &mut c,
        &[
            &[b"ZINCRBY", b"leaderboard", b"10", b"ann"],
            &[b"ZINCRBY", b"leaderboard", b"25", b"bob"],
            &[b"ZINCRBY", b"leaderboard", b"15", b"cy"],
            &[b"ZINCRBY", b"leaderboard", b"5", b"ann"],
            &[b"ZREVRANGE", b"leaderboard", b"0", b"2", b"WITHSCORES"],
            &[b"ZREVRANK", b"leaderboard", b"ann"],
            &[b"ZREVRANK", b"leaderboard", b"cy"],
            &[b"ZSCORE", b"leaderboard", b"bob"],
            &[b"ZCOUNT", b"leaderboard", b"15", b"+inf"],
            &[b"OBJECT", b"ENCODING", b"leaderboard"],
        ],
    );
    check("usecase-leaderboard.txt", &t.out);
}

/// The locks chapter: acquire with SET NX PX, a refused second client, the Lua
/// unlock refusing the wrong token, a fencing token from INCR.
#[test]
fn transcript_usecase_locks() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.raw(), srv.raw());
    let unlock: &[u8] = b"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    let mut t = CliSession::new();
    t.run(
        "A",
        &mut a,
        &[b"SET", b"lock:order:42", b"token-a", b"NX", b"PX", b"30000"],
    );
    t.run("A", &mut a, &[b"INCR", b"fence:order:42"]);
    t.run(
        "B",
        &mut b,
        &[b"SET", b"lock:order:42", b"token-b", b"NX", b"PX", b"30000"],
    );
    t.run(
        "B",
        &mut b,
        &[b"EVAL", unlock, b"1", b"lock:order:42", b"token-b"],
    );
    t.run(
        "A",
        &mut a,
        &[b"EVAL", unlock, b"1", b"lock:order:42", b"token-a"],
    );
    t.run(
        "B",
        &mut b,
        &[b"SET", b"lock:order:42", b"token-b", b"NX", b"PX", b"30000"],
    );
    t.run("B", &mut b, &[b"INCR", b"fence:order:42"]);
    check("usecase-locks.txt", &t.out);
}
