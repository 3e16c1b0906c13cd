//! Protocol and event-loop behaviour over raw sockets: split reads, big pipelines,
//! fairness between clients, many connections, limits. Each test would fail if the
//! stage it names did not hold.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{encode, Raw, Server};

/// processMultibulkBuffer keeps its state across reads: a pipeline delivered one
/// split at every possible byte boundary still yields exactly the same replies.
#[test]
fn pipeline_split_at_every_byte_boundary() {
    let srv = Server::ferredis(&[]);
    let mut script = Vec::new();
    script.extend(encode(&[b"SET", b"k", b"hello world"]));
    script.extend(b"PING\r\n");
    script.extend(encode(&[b"GET", b"k"]));
    script.extend(b"ECHO \"a b\"\r\n");
    script.extend(encode(&[b"DEL", b"k", b"nokey"]));
    let expected: &[u8] = b"+OK\r\n+PONG\r\n$11\r\nhello world\r\n$3\r\na b\r\n:1\r\n";
    for split in 1..script.len() {
        let mut raw = srv.raw();
        raw.send(&script[..split]);
        // Give the server a chance to read (and parse) the first part alone.
        std::thread::sleep(Duration::from_millis(2));
        raw.send(&script[split..]);
        let mut got = Vec::new();
        while got.len() < expected.len() {
            got.extend(raw.read_reply());
        }
        assert_eq!(got, expected, "split at byte {split}");
    }
}

/// readQueryFromClient reads 16 KiB per event: a 1 MB pipeline of SETs is fully
/// served, in order, and the server stays responsive.
#[test]
fn one_megabyte_pipeline_is_fully_served() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let mut pipeline = Vec::new();
    let mut n = 0;
    while pipeline.len() < 1 << 20 {
        pipeline.extend(encode(&[
            b"SET",
            format!("key:{n}").as_bytes(),
            b"0123456789abcdef",
        ]));
        n += 1;
    }
    pipeline.extend(encode(&[b"DBSIZE"]));
    let mut writer = raw.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&pipeline).unwrap());
    for _ in 0..n {
        assert_eq!(raw.read_reply(), b"+OK\r\n");
    }
    assert_eq!(raw.read_reply(), format!(":{n}\r\n").into_bytes());
    sender.join().unwrap();
}

/// The event loop's fairness (ae.rs): while one client streams a huge pipeline,
/// another client's PING is answered promptly, not after the whole pipeline.
#[test]
fn big_pipeline_does_not_starve_other_clients() {
    let srv = Server::ferredis(&[]);
    let mut heavy = srv.raw();
    let mut pipeline = Vec::new();
    while pipeline.len() < 8 << 20 {
        pipeline.extend(encode(&[b"SET", b"k", b"0123456789abcdef0123456789abcdef"]));
    }
    let total = pipeline.len() / encode(&[b"SET", b"k", b"0123456789abcdef0123456789abcdef"]).len();
    let mut writer = heavy.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&pipeline).unwrap());
    // Read the heavy client's replies in the background so it never blocks on output.
    let reader = std::thread::spawn(move || {
        for _ in 0..total {
            heavy.read_reply();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut light = srv.raw();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(light.cmd(&[b"PING"]), b"+PONG\r\n");
        worst = worst.max(t.elapsed());
    }
    sender.join().unwrap();
    reader.join().unwrap();
    // Generous bound: the point is "not after 8 MB of commands", not a latency target.
    assert!(
        worst < Duration::from_secs(2),
        "light client waited {worst:?}"
    );
}

/// A big bulk argument (>= 32 KiB, PROTO_MBULK_BIG_ARG) arriving in pieces is
/// assembled exactly.
#[test]
fn big_argument_arrives_intact() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let value: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let cmd = encode(&[b"SET", b"big", &value]);
    for chunk in cmd.chunks(7000) {
        raw.send(chunk);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    let reply = raw.cmd(&[b"GET", b"big"]);
    let mut expected = format!("${}\r\n", value.len()).into_bytes();
    expected.extend(&value);
    expected.extend(b"\r\n");
    assert_eq!(reply, expected);
}

/// A reply bigger than the socket buffer is written in pieces by the write handler
/// (handleClientsWithPendingWrites installs it only for what is left).
#[test]
fn big_replies_to_a_slow_reader_arrive_whole() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let value = vec![b'x'; 4 << 20];
    assert_eq!(raw.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    for _ in 0..5 {
        raw.send(&encode(&[b"GET", b"big"]));
    }
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let r = raw.read_reply();
        assert_eq!(
            r.len(),
            value.len() + format!("${}\r\n\r\n", value.len()).len()
        );
    }
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// 1000 simultaneous connections are all accepted and served.
#[test]
fn a_thousand_connections() {
    let srv = Server::ferredis(&[]);
    let mut conns: Vec<Raw> = (0..1000).map(|_| srv.raw()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&encode(&[b"SET", format!("c{i}").as_bytes(), b"v"]));
    }
    for c in conns.iter_mut() {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
    assert_eq!(conns[0].cmd(&[b"DBSIZE"]), b":1000\r\n");
}

/// maxclients: the connection over the limit gets Redis's error and is closed.
#[test]
fn maxclients_is_enforced() {
    let srv = Server::ferredis(&["--maxclients", "3"]);
    // Wait until the start-up probe connection is gone, so the count is ours alone.
    let mut first = srv.raw();
    for _ in 0..200 {
        let info = String::from_utf8(first.cmd(&[b"INFO", b"clients"])).unwrap();
        if info.contains("connected_clients:1\r\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut keep: Vec<Raw> = vec![first, srv.raw(), srv.raw()];
    for c in keep.iter_mut() {
        assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    let mut extra = srv.raw();
    assert_eq!(
        extra.read_to_close(),
        b"-ERR max number of clients reached\r\n"
    );
    drop(keep.pop());
    std::thread::sleep(Duration::from_millis(100));
    let mut again = srv.raw();
    assert_eq!(again.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// client-query-buffer-limit: a client whose unparsed input exceeds it is dropped.
#[test]
fn query_buffer_limit_closes_the_client() {
    let srv = Server::ferredis(&["--client-query-buffer-limit", "1mb"]);
    let mut raw = srv.raw();
    // A bulk that promises 2 MB (under proto-max-bulk-len) and sends more than 1 MB.
    raw.send(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
    let chunk = vec![b'a'; 64 * 1024];
    let mut closed = false;
    for _ in 0..40 {
        if raw.stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 16];
        closed = matches!(raw.stream.read(&mut b), Ok(0) | Err(_));
    }
    assert!(closed, "client over the query buffer limit was not closed");
    let mut other = srv.raw();
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// client-output-buffer-limit for normal clients: a client that never reads its
/// replies is disconnected when its output passes the hard limit.
#[test]
fn output_buffer_limit_disconnects_a_client_that_does_not_read() {
    let srv = Server::ferredis(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let mut raw = srv.raw();
    let value = vec![b'x'; 512 * 1024];
    assert_eq!(raw.cmd(&[b"SET", b"v", &value]), b"+OK\r\n");
    // Ask for 64 MB of replies without reading any.
    let gets: Vec<u8> = (0..128).flat_map(|_| encode(&[b"GET", b"v"])).collect();
    raw.send(&gets);
    std::thread::sleep(Duration::from_millis(500));
    let mut info = srv.raw();
    let clients = String::from_utf8(info.cmd(&[b"CLIENT", b"LIST"])).unwrap();
    assert_eq!(
        clients.matches("id=").count(),
        1,
        "slow client still connected: {clients}"
    );
}

/// The idle `timeout` closes clients that stay silent.
#[test]
fn idle_timeout_closes_silent_clients() {
    let srv = Server::ferredis(&["--timeout", "1"]);
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let t = Instant::now();
    let mut b = [0u8; 8];
    let n = raw.stream.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// Protocol errors are replied and then the connection is closed, as Redis does.
#[test]
fn protocol_error_closes_after_the_reply() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    raw.send(b"*1\r\n$4\r\nPING\r\n*1\r\nx3\r\nPING\r\n");
    let all = raw.read_to_close();
    assert_eq!(
        all,
        b"+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n"
    );
}

/// POST and Host: lines (a browser talking to Redis) close the connection silently.
#[test]
fn cross_protocol_guard() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    raw.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(raw.read_to_close(), b"");
    let mut raw = srv.raw();
    raw.send(b"Host: 127.0.0.1\r\n");
    assert_eq!(raw.read_to_close(), b"");
}

/// CLIENT PAUSE holds commands and releases them, in order, when it ends.
#[test]
fn client_pause_holds_and_releases_in_order() {
    let srv = Server::ferredis(&[]);
    let mut admin = srv.raw();
    let mut worker = srv.raw();
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"PAUSE", b"300", b"WRITE"]),
        b"+OK\r\n"
    );
    let t = Instant::now();
    worker.send(&encode(&[b"SET", b"k", b"1"]));
    worker.send(&encode(&[b"GET", b"k"]));
    assert_eq!(worker.read_reply(), b"+OK\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "write ran during the pause"
    );
    assert_eq!(worker.read_reply(), b"$1\r\n1\r\n");
}

/// Stopping the server's reads (no client writes anything) never leaves a client
/// hanging on a half-written reply: a slow reader eventually gets everything.
#[test]
fn slow_reader_gets_every_byte() {
    let srv = Server::ferredis(&[]);
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let value = vec![b'y'; 200_000];
    let mut cmd = encode(&[b"SET", b"k", &value]);
    for _ in 0..20 {
        cmd.extend(encode(&[b"GET", b"k"]));
    }
    s.write_all(&cmd).unwrap();
    let expected = 5 + 20 * (value.len() + 11);
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < expected {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
        if got % 10 == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    assert_eq!(got, expected);
}

fn used_memory(raw: &mut Raw) -> u64 {
    let info = String::from_utf8(raw.cmd(&[b"INFO", b"memory"])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO")
}

/// Arguments are slices of the 16 KiB read buffer; a stored key must not keep that
/// buffer alive (object.rs: create_string_object copies small arguments).
#[test]
fn stored_keys_do_not_pin_read_buffers() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let before = used_memory(&mut raw);
    let filler = vec![b'x'; 20_000];
    for i in 0..300 {
        // Each small SET shares its read buffer with 20 KB of other input.
        let mut batch = encode(&[b"SET", format!("key:{i}").as_bytes(), b"0123456789abcdef"]);
        batch.extend(encode(&[b"ECHO", &filler]));
        raw.send(&batch);
        assert_eq!(raw.read_reply(), b"+OK\r\n");
        raw.read_reply();
    }
    let grown = used_memory(&mut raw).saturating_sub(before);
    assert!(
        grown < 2 << 20,
        "300 small keys grew used_memory by {grown} bytes"
    );
}
