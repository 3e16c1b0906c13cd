//! A 10-command MULTI/EXEC, ferredis beside redis-server 7.0.
//!
//! redis-benchmark cannot send a transaction (a custom command is one command,
//! repeated), so this driver does what it would: CLIENTS connections, each sending
//! `MULTI`, five `INCR` and five `SET` (16-byte values), `EXEC` in one write and
//! reading the 12 replies before the next. Both servers run as processes on
//! loopback (`--save '' --appendonly no`), alternating A/B/A/B so drift falls on both.
//!
//!     cargo bench --bench transactions
//!     BENCH_WRITE=1 cargo bench --bench transactions   # also writes the book's table
//!
//! Prints transactions per second per run, the medians and the ratio.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;
const RUNS: usize = 3;
const SECONDS: f64 = 3.0;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(bin: &str) -> (Proc, u16) {
    let port = free_port();
    // Wrapped at once, so the process is killed and reaped on every path.
    let child = Proc(
        Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}")),
    );
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{bin} did not start");
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Skips one complete reply at `pos`; None when the buffer ends first.
fn skip_reply(b: &[u8], pos: usize) -> Option<usize> {
    let line_end = pos + b.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[pos + 1..line_end]).ok()?;
    let after = line_end + 2;
    match b[pos] {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (end <= b.len()).then_some(end)
        }
        b'*' => {
            let n: i64 = head.parse().ok()?;
            let mut p = after;
            for _ in 0..n.max(0) {
                p = skip_reply(b, p)?;
            }
            Some(p)
        }
        other => panic!("unexpected reply byte {other}"),
    }
}

/// One connection's loop: a transaction, its 12 replies, again, until `stop`.
fn client(port: u16, id: usize, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let mut tx = encode(&[b"MULTI"]);
    for i in 0..5 {
        let counter = format!("counter:{id}:{i}");
        let key = format!("key:{id}:{i}");
        tx.extend(encode(&[b"INCR", counter.as_bytes()]));
        tx.extend(encode(&[b"SET", key.as_bytes(), b"xxxxxxxxxxxxxxxx"]));
    }
    tx.extend(encode(&[b"EXEC"]));
    let mut buf = vec![0u8; 64 << 10];
    let mut have = 0;
    while !stop.load(Ordering::Relaxed) {
        s.write_all(&tx).unwrap();
        let mut replies = 0;
        let mut pos = 0;
        while replies < 12 {
            match skip_reply(&buf[..have], pos) {
                Some(p) => {
                    pos = p;
                    replies += 1;
                }
                None => {
                    let n = s.read(&mut buf[have..]).unwrap();
                    assert!(n > 0, "server closed the connection");
                    have += n;
                }
            }
        }
        buf.copy_within(pos..have, 0);
        have -= pos;
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Transactions per second over SECONDS with CLIENTS connections.
fn run(port: u16) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || client(port, id, stop, done))
        })
        .collect();
    // Let every connection get going before counting.
    std::thread::sleep(Duration::from_millis(300));
    let start_count = done.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(SECONDS));
    let n = done.load(Ordering::Relaxed) - start_count;
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    n as f64 / secs
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let ferredis = env!("CARGO_BIN_EXE_ferredis-server");
    let (_f, fport) = start(ferredis);
    let (_r, rport) = start("redis-server");
    let (mut f, mut r) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        f.push(run(fport));
        r.push(run(rport));
        println!(
            "run {}: ferredis {:.0} tx/s, redis-server {:.0} tx/s",
            i + 1,
            f[i],
            r[i]
        );
    }
    let (fm, rm) = (median(&mut f), median(&mut r));
    let ratio = fm / rm;
    let table = format!(
        "| MULTI + 5 INCR + 5 SET + EXEC, {CLIENTS} connections | transactions/s (median of {RUNS}) | commands/s |\n\
         |---|---|---|\n\
         | ferredis | {fm:.0} | {:.0} |\n\
         | redis-server 7.0 | {rm:.0} | {:.0} |\n\
         | ratio | {ratio:.2}x | |\n",
        fm * 12.0,
        rm * 12.0
    );
    println!("\n{table}");
    if std::env::var("BENCH_WRITE").is_ok() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/generated/bench");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(format!("{dir}/multi-exec.md"), table).unwrap();
    }
}
