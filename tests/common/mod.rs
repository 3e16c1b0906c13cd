//! Shared test harness: start real servers (ferredis and, as the oracle, Debian's
//! redis-server 7.0) on ephemeral loopback ports, and talk raw RESP to them.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the ferredis binary under test: FERREDIS_BIN, or the one cargo built.
pub fn ferredis_bin() -> PathBuf {
    match std::env::var("FERREDIS_BIN") {
        Ok(p) if std::path::Path::new(&p).exists() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ferredis-server")),
    }
}

/// The I/O-thread mode every ferredis a test starts runs in, from FERREDIS_IO_MODE:
/// `off` (default), `writes` (4 threads, writes only, forced on) or `reads` (4
/// threads, reads and writes, forced on). scripts/test runs the suite in all three.
pub fn io_mode_args() -> &'static [&'static str] {
    match std::env::var("FERREDIS_IO_MODE").as_deref() {
        Ok("writes") => &["--io-threads", "4", "--io-threads-always-active", "yes"],
        Ok("reads") => &[
            "--io-threads",
            "4",
            "--io-threads-do-reads",
            "yes",
            "--io-threads-always-active",
            "yes",
        ],
        _ => &[],
    }
}

/// The same I/O-thread settings for the real redis-server, which has no way to
/// force its threads on.
pub fn io_mode_oracle_args() -> Vec<&'static str> {
    let args = io_mode_args();
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        if pair[0] != "--io-threads-always-active" {
            out.extend_from_slice(pair);
        }
    }
    out
}

/// A free TCP port on 127.0.0.1 (bind to 0, read it, release it).
///
/// Never the same port twice in one test process: tests that start many servers at
/// once (tests/differential.rs) could otherwise be handed a port that another server
/// is about to bind, and end up talking to the wrong server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ferredis,
    Redis,
}

/// A fresh, empty directory for one server's files, unique to this test process.
pub fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferredis-test-{}-{}-{}",
        std::process::id(),
        tag,
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server process that is killed when dropped, with its directory.
///
/// `Server::start` gives it a fresh directory and returns as soon as it answers.
/// `Server::start_in` runs it on a directory the test prepared, which outlives
/// `kill` and `restart` (so a server can be crashed and started again on its own
/// files), and returns once the dataset is loaded (PING answers +PONG).
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    child: Option<Child>,
    pub dir: PathBuf,
    /// Arguments of every start, after the I/O mode and before a start's own.
    base: Vec<String>,
    /// Wait for +PONG (loaded) rather than for any reply (which may be -LOADING).
    wait_loaded: bool,
}

impl Server {
    /// Start a server with extra `--name value` arguments.
    pub fn start(kind: Kind, extra: &[&str]) -> Server {
        let mut s = Server::on_dir(kind, &fresh_dir("srv"), &[], false);
        s.restart(extra, &[]);
        s
    }

    pub fn ferredis(extra: &[&str]) -> Server {
        Server::start(Kind::Ferredis, extra)
    }

    pub fn redis(extra: &[&str]) -> Server {
        Server::start(Kind::Redis, extra)
    }

    /// Start a server on `dir` with `base` arguments for this and every restart,
    /// `extra` arguments and `env` variables for this start only.
    pub fn start_in(
        kind: Kind,
        dir: &Path,
        base: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut s = Server::on_dir(kind, dir, base, true);
        s.restart(extra, env);
        s
    }

    /// A server on `dir` that is not running yet: `restart` or `run_to_exit` starts
    /// it. `wait_loaded`: starts wait for +PONG rather than for any reply.
    pub fn on_dir(kind: Kind, dir: &Path, base: &[&str], wait_loaded: bool) -> Server {
        Server {
            kind,
            port: 0,
            child: None,
            dir: dir.to_path_buf(),
            base: base.iter().map(|a| a.to_string()).collect(),
            wait_loaded,
        }
    }

    fn spawn(&mut self, extra: &[&str], env: &[(&str, &str)]) -> Child {
        self.port = free_port();
        let bin = match self.kind {
            Kind::Ferredis => ferredis_bin(),
            Kind::Redis => PathBuf::from("redis-server"),
        };
        let mut cmd = Command::new(bin);
        cmd.current_dir(&self.dir)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            // The mode first, so a test's own arguments override it.
            .args(if self.kind == Kind::Ferredis {
                io_mode_args()
            } else {
                &[]
            })
            .args(&self.base)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.kind == Kind::Redis {
            cmd.args(["--daemonize", "no"]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start server")
    }

    /// (Re)starts on the same directory, on a new port, and waits until it answers.
    pub fn restart(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        self.kill();
        for _attempt in 0..5 {
            let child = self.spawn(extra, env);
            self.child = Some(child);
            if self.wait_ready() {
                return;
            }
            self.kill();
        }
        panic!("{:?} did not start: {}", self.kind, self.log());
    }

    /// Starts and expects the process to exit by itself (a start-up that must fail);
    /// returns its exit code.
    pub fn run_to_exit(&mut self, extra: &[&str]) -> i32 {
        self.kill();
        self.child = Some(self.spawn(extra, &[]));
        self.wait_exit()
    }

    /// SIGKILL: no shutdown code runs, nothing more is flushed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let mut c = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the server kept running: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log, when it was started with `--logfile log.txt`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log.txt")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                if c.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = c.read(&mut buf) {
                        if n > 0 && (!self.wait_loaded || buf.starts_with(b"+PONG")) {
                            // Leave with QUIT and wait for the server's close, so the
                            // probe is gone before a test counts connections.
                            let _ = c.write_all(b"QUIT\r\n");
                            while let Ok(n) = c.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                            }
                            return true;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw TCP connection that reads whole RESP replies.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Send one command as a RESP multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        self.read_reply()
    }

    /// Read exactly one reply (with its nested parts) and return its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(
                n > 0,
                "connection closed before a whole reply: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read until the server closes; returns everything that arrived.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
                Err(e) => panic!(
                    "read_to_close: {e} after {:?}",
                    String::from_utf8_lossy(&out)
                ),
            }
        }
    }
}

/// RESP-encode a command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the first complete RESP2/RESP3 reply in `b`, if it is all there.
pub fn reply_len(b: &[u8]) -> Option<usize> {
    fn line(b: &[u8], from: usize) -> Option<usize> {
        b[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn one(b: &[u8], at: usize) -> Option<usize> {
        if at >= b.len() {
            return None;
        }
        let end = line(b, at)?;
        let head = std::str::from_utf8(&b[at + 1..end]).ok()?;
        let next = end + 2;
        match b[at] {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(next),
            b'$' | b'=' | b'!' => {
                let n: i64 = head.parse().ok()?;
                if n < 0 {
                    return Some(next);
                }
                let stop = next + n as usize + 2;
                if stop <= b.len() {
                    Some(stop)
                } else {
                    None
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n: i64 = head.parse().ok()?;
                let items = if b[at] == b'%' || b[at] == b'|' {
                    n * 2
                } else {
                    n
                };
                let mut pos = next;
                for _ in 0..items.max(0) {
                    pos = one(b, pos)?;
                }
                // An attribute is followed by the reply it describes.
                if b[at] == b'|' {
                    return one(b, pos);
                }
                Some(pos)
            }
            other => panic!(
                "not RESP: {:?} in {:?}",
                other as char,
                String::from_utf8_lossy(b)
            ),
        }
    }
    one(b, 0)
}

/// Runs a redis-py program against the server on `port` (with `redis`, `time`, `uuid`
/// and `threading` imported and `PORT` set); it must print "ok" when its asserts pass.
pub fn run_python(port: u16, body: &str) {
    let script =
        format!("import redis, time, uuid, threading\nPORT = {port}\n{body}\nprint('ok')\n");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "redis-py failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// A RESP2 reply as `redis-cli` prints it on a terminal (its cliFormatReplyTTY):
/// `(integer) 1`, quoted strings, `(nil)`, `(error) ...`, numbered arrays.
pub fn cli_format(reply: &[u8]) -> String {
    fn repr(s: &[u8]) -> String {
        let mut out = String::from("\"");
        for &c in s {
            match c {
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                7 => out.push_str("\\a"),
                8 => out.push_str("\\b"),
                0x20..=0x7e => out.push(c as char),
                _ => out.push_str(&format!("\\x{c:02x}")),
            }
        }
        out.push('"');
        out
    }
    fn one(b: &[u8], at: usize, prefix: &str, out: &mut String) -> usize {
        let end = at + b[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let head = &b[at + 1..end];
        let text = String::from_utf8_lossy(head);
        let next = end + 2;
        match b[at] {
            b'+' => {
                out.push_str(&text);
                out.push('\n');
                next
            }
            b'-' => {
                out.push_str(&format!("(error) {text}\n"));
                next
            }
            b':' => {
                out.push_str(&format!("(integer) {text}\n"));
                next
            }
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    out.push_str("(nil)\n");
                    return next;
                }
                out.push_str(&repr(&b[next..next + n as usize]));
                out.push('\n');
                next + n as usize + 2
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    out.push_str("(nil)\n");
                    return next;
                }
                if n == 0 {
                    out.push_str("(empty array)\n");
                    return next;
                }
                let width = n.to_string().len();
                let inner = format!("{prefix}{}", " ".repeat(width + 2));
                let mut pos = next;
                for i in 0..n {
                    let p = if i == 0 { "" } else { prefix };
                    out.push_str(&format!("{p}{:>width$}) ", i + 1));
                    pos = one(b, pos, &inner, out);
                }
                pos
            }
            other => panic!("cli_format: RESP2 only, got {:?}", other as char),
        }
    }
    let mut out = String::new();
    one(reply, 0, "", &mut out);
    out
}

/// A command line as typed at the redis-cli prompt (arguments with spaces or
/// quotes are quoted).
pub fn cli_line(args: &[&[u8]]) -> String {
    args.iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.is_empty() || s.contains([' ', '"', '\'', '\n']) {
                format!("{:?}", s)
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A redis-cli-style session built from real exchanges: what is shown is what
/// the server answered. `who` names the client when there are several.
pub struct CliSession {
    pub out: String,
}

impl CliSession {
    pub fn new() -> Self {
        CliSession { out: String::new() }
    }

    fn prompt(who: &str) -> String {
        if who.is_empty() {
            "127.0.0.1:6379> ".to_string()
        } else {
            format!("{who} 127.0.0.1:6379> ")
        }
    }

    /// Send a command and show it with its reply.
    pub fn run(&mut self, who: &str, conn: &mut Raw, args: &[&[u8]]) -> Vec<u8> {
        let reply = conn.cmd(args);
        self.out.push_str(&Self::prompt(who));
        self.out.push_str(&cli_line(args));
        self.out.push('\n');
        self.out.push_str(&cli_format(&reply));
        reply
    }

    /// Send a command whose reply comes later (a blocking pop): shown now.
    pub fn send(&mut self, who: &str, conn: &mut Raw, args: &[&[u8]]) {
        conn.send(&encode(args));
        self.out.push_str(&Self::prompt(who));
        self.out.push_str(&cli_line(args));
        self.out.push_str("    (blocks)\n");
    }

    /// The reply of an earlier `send`, shown where it arrives.
    pub fn receive(&mut self, who: &str, conn: &mut Raw) {
        let reply = conn.read_reply();
        self.out.push_str(&format!("{who} answered: "));
        self.out.push_str(&cli_format(&reply));
    }

    /// A comment line in the transcript.
    pub fn note(&mut self, text: &str) {
        self.out.push_str(&format!("# {text}\n"));
    }
}

/// The big collections the persistence tests build (one key each: a quicklist made by
/// RPUSH and one by LPUSH, a hashtable hash, a big intset, a skiplist zset), as
/// command lines for `run_commands`.
pub fn big_collections() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut big_list = s(&["RPUSH", "biglist"]);
    big_list.extend((0..4000).map(|i| format!("element-{i}")));
    let mut left_list = s(&["LPUSH", "leftlist"]);
    left_list.extend((0..3000).map(|i| (i * 31).to_string()));
    let mut big_hash = s(&["HSET", "bighash"]);
    big_hash.extend((0..700).flat_map(|i| [format!("field{i}"), format!("value{i}")]));
    let mut big_set = s(&["SADD", "bigintset"]);
    big_set.extend((0..600).map(|i| (i * 7).to_string()));
    let mut big_zset = s(&["ZADD", "bigzset"]);
    big_zset.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]));
    vec![big_list, left_list, big_hash, big_set, big_zset]
}

/// Sends each command line and ignores the replies (they must not be errors the
/// client library refuses).
pub fn run_commands(con: &mut redis::Connection, cmds: &[Vec<String>]) {
    for cmd in cmds {
        let mut c = redis::cmd(&cmd[0]);
        for a in &cmd[1..] {
            c.arg(a.as_bytes());
        }
        let _: redis::Value = c.query(con).unwrap();
    }
}
