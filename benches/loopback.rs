//! End to end over loopback, per I/O mode: an in-process ferredis (as
//! tests/command_filter.rs starts one) and 8 client connections, each sending
//! pipelines of 16 SETs (or GETs) and reading every reply. Throughput is in
//! commands. The threaded modes set `io-threads-always-active yes` so the threads
//! do the I/O even though 8 clients are under Redis's 2-per-thread threshold.
//!
//!     cargo bench --bench loopback
//!
//! Client and server share the machine's cores, as redis-benchmark does: read the
//! modes against each other, not as absolute figures.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferredis::config::Config;
use ferredis::server::{run, Server};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

const CONNS: usize = 8;
const DEPTH: usize = 16;

fn start(io_threads: i64, reads: bool) -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::thread::spawn(move || {
        let config = Config {
            port,
            bind: vec!["127.0.0.1".into()],
            io_threads,
            io_threads_do_reads: reads,
            io_threads_always_active: io_threads > 1,
            ..Config::default()
        };
        let mut s = Server::new(config).expect("server");
        run(&mut s);
    });
    for _ in 0..500 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return port;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("in-process server did not start");
}

/// Send one pipeline on every connection, then read every reply: `expect` bytes each.
fn round(conns: &mut [TcpStream], pipeline: &[u8], expect: usize, buf: &mut [u8]) {
    for c in conns.iter_mut() {
        c.write_all(pipeline).unwrap();
    }
    for c in conns.iter_mut() {
        let mut got = 0;
        while got < expect {
            let n = c.read(&mut buf[..]).unwrap();
            assert!(n > 0, "server closed the connection");
            got += n;
        }
    }
}

fn loopback(c: &mut Criterion) {
    let set: Vec<u8> = (0..DEPTH)
        .flat_map(|i| {
            format!("*3\r\n$3\r\nSET\r\n$10\r\nkey:{i:06}\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n")
                .into_bytes()
        })
        .collect();
    let get: Vec<u8> = (0..DEPTH)
        .flat_map(|i| format!("*2\r\n$3\r\nGET\r\n$10\r\nkey:{i:06}\r\n").into_bytes())
        .collect();
    let mut g = c.benchmark_group("loopback");
    g.throughput(Throughput::Elements((CONNS * DEPTH) as u64));
    g.sample_size(30);
    for (mode, threads, reads) in [
        ("off", 1, false),
        ("2 threads writes", 2, false),
        ("2 threads reads+writes", 2, true),
    ] {
        let port = start(threads, reads);
        let mut conns: Vec<TcpStream> = (0..CONNS)
            .map(|_| {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                s
            })
            .collect();
        let mut buf = vec![0u8; 64 << 10];
        // Fill the keys so GET replies are bulk strings of 16 bytes.
        round(&mut conns, &set, DEPTH * 5, &mut buf);
        g.bench_function(BenchmarkId::new("SET x16 pipeline, 8 conns", mode), |b| {
            b.iter(|| round(black_box(&mut conns), &set, DEPTH * 5, &mut buf))
        });
        // "$16\r\n" + 16 bytes + "\r\n" per reply.
        g.bench_function(BenchmarkId::new("GET x16 pipeline, 8 conns", mode), |b| {
            b.iter(|| round(black_box(&mut conns), &get, DEPTH * 23, &mut buf))
        });
    }
    g.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
