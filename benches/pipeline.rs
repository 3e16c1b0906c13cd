//! Criterion benchmarks of the pipeline's hot stages: parsing (inline, multibulk,
//! pipelines, big arguments), command lookup and reply encoding. Each reports
//! throughput, in commands (or replies) per second, or in bytes per second for the
//! big arguments.
//!
//!     cargo bench --bench pipeline
//!     cargo bench --bench pipeline -- parse      (one group)

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferredis::commands::CommandTable;
use ferredis::networking::{
    process_inline_buffer, process_multibulk_buffer, Client, ClientIo, ParseLimits, CLIENT_SCRIPT,
    PROTO_REQ_INLINE, PROTO_REQ_MULTIBULK,
};

const LIMITS: ParseLimits = ParseLimits {
    proto_max_bulk_len: 512 << 20,
    auth_required: false,
};

/// `*3\r\n$3\r\nSET\r\n$10\r\nkey:000007\r\n$<len>\r\nxxx...\r\n`, as redis-benchmark sends it.
fn multibulk_set(i: usize, value_len: usize) -> Vec<u8> {
    let key = format!("key:{i:06}");
    let mut v = format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n",
        key.len(),
        key,
        value_len
    )
    .into_bytes();
    v.resize(v.len() + value_len, b'x');
    v.extend_from_slice(b"\r\n");
    v
}

/// Parse every command in `input` the way processInputBuffer drives the parsers;
/// returns the number of arguments seen.
fn parse_all(c: &mut ClientIo, input: &[u8]) -> usize {
    c.querybuf = BytesMut::from(input);
    let mut n = 0;
    while !c.querybuf.is_empty() {
        c.reqtype = if c.querybuf[0] == b'*' {
            PROTO_REQ_MULTIBULK
        } else {
            PROTO_REQ_INLINE
        };
        let done = if c.reqtype == PROTO_REQ_MULTIBULK {
            process_multibulk_buffer(c, LIMITS).unwrap()
        } else {
            process_inline_buffer(c).unwrap()
        };
        assert!(done, "the benchmark input holds whole commands only");
        n += c.argv.len();
        c.reset_parser();
    }
    n
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let mut client = Client::new(1, mio::Token(0), None, 0);

    // One command per read, as with -P 1.
    let one = multibulk_set(7, 16);
    g.throughput(Throughput::Elements(1));
    g.bench_function("multibulk SET 16B", |b| {
        b.iter(|| black_box(parse_all(&mut client, black_box(&one))))
    });
    let inline = b"SET key:000007 xxxxxxxxxxxxxxxx\r\n".to_vec();
    g.bench_function("inline SET 16B", |b| {
        b.iter(|| black_box(parse_all(&mut client, black_box(&inline))))
    });
    let ping = b"PING\r\n".to_vec();
    g.bench_function("inline PING", |b| {
        b.iter(|| black_box(parse_all(&mut client, black_box(&ping))))
    });

    // Pipelines, as with -P 16 and -P 128.
    for depth in [16usize, 128] {
        let pipeline: Vec<u8> = (0..depth).flat_map(|i| multibulk_set(i, 16)).collect();
        g.throughput(Throughput::Elements(depth as u64));
        g.bench_with_input(
            BenchmarkId::new("multibulk SET pipeline", depth),
            &pipeline,
            |b, p| b.iter(|| black_box(parse_all(&mut client, black_box(p)))),
        );
        let inline: Vec<u8> = (0..depth)
            .flat_map(|i| format!("SET key:{i:06} xxxxxxxxxxxxxxxx\r\n").into_bytes())
            .collect();
        g.bench_with_input(
            BenchmarkId::new("inline SET pipeline", depth),
            &inline,
            |b, p| b.iter(|| black_box(parse_all(&mut client, black_box(p)))),
        );
    }

    // Big arguments: at and above PROTO_MBULK_BIG_ARG (32 KiB), measured in bytes.
    for size in [1024usize, 64 << 10, 1 << 20] {
        let cmd = multibulk_set(1, size);
        g.throughput(Throughput::Bytes(cmd.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("multibulk SET big value bytes", size),
            &cmd,
            |b, p| b.iter(|| black_box(parse_all(&mut client, black_box(p)))),
        );
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let table = CommandTable::new();
    let argvs: Vec<(&str, Vec<Bytes>)> = vec![
        (
            "SET",
            vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"v"),
            ],
        ),
        (
            "get (lower case)",
            vec![Bytes::from_static(b"get"), Bytes::from_static(b"k")],
        ),
        (
            "CONFIG GET (subcommand)",
            vec![
                Bytes::from_static(b"CONFIG"),
                Bytes::from_static(b"GET"),
                Bytes::from_static(b"port"),
            ],
        ),
        (
            "unknown",
            vec![
                Bytes::from_static(b"NOSUCHCOMMAND"),
                Bytes::from_static(b"k"),
            ],
        ),
    ];
    let mut g = c.benchmark_group("lookup_command");
    g.throughput(Throughput::Elements(1));
    for (name, argv) in &argvs {
        g.bench_with_input(BenchmarkId::from_parameter(name), argv, |b, argv| {
            b.iter(|| black_box(table.lookup_command(black_box(argv))))
        });
    }
    g.finish();
}

/// A client with no socket that accumulates replies (as Lua's fake client does).
fn reply_client(resp: u8) -> Client {
    let mut c = Client::new(1, mio::Token(0), None, 0);
    c.flags |= CLIENT_SCRIPT;
    c.resp = resp;
    c
}

fn clear_replies(c: &mut ClientIo) {
    c.buf.clear();
    c.reply.clear();
    c.reply_bytes = 0;
}

fn reply(c: &mut Criterion) {
    let mut g = c.benchmark_group("add_reply");
    let mut client = reply_client(2);
    let value = vec![b'x'; 16];
    let big = vec![b'x'; 64 << 10];

    // 16 replies per iteration, as one -P 16 batch produces.
    g.throughput(Throughput::Elements(16));
    g.bench_function("status +OK x16", |b| {
        b.iter(|| {
            clear_replies(&mut client);
            for _ in 0..16 {
                client.add_reply_status("OK");
            }
            black_box(client.buf.len())
        })
    });
    g.bench_function("bulk 16B x16", |b| {
        b.iter(|| {
            clear_replies(&mut client);
            for _ in 0..16 {
                client.add_reply_bulk(black_box(&value));
            }
            black_box(client.buf.len())
        })
    });
    g.bench_function("integer x16", |b| {
        b.iter(|| {
            clear_replies(&mut client);
            for i in 0..16i64 {
                client.add_reply_long_long(black_box(i * 1_000_003));
            }
            black_box(client.buf.len())
        })
    });
    g.bench_function("array of 16 bulks (MGET)", |b| {
        b.iter(|| {
            clear_replies(&mut client);
            client.add_reply_array_len(16);
            for _ in 0..16 {
                client.add_reply_bulk(black_box(&value));
            }
            black_box(client.buf.len())
        })
    });
    let mut resp3 = reply_client(3);
    g.bench_function("RESP3 map of 8 pairs, deferred length", |b| {
        b.iter(|| {
            clear_replies(&mut resp3);
            let d = resp3.add_reply_deferred_len();
            for _ in 0..8 {
                resp3.add_reply_bulk(black_box(&value));
                resp3.add_reply_long_long(42);
            }
            resp3.set_deferred_map_len(d, 8);
            black_box(resp3.reply_bytes)
        })
    });
    // A value bigger than the 16 KiB buffer goes to the reply list.
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("bulk 64KiB bytes", |b| {
        b.iter(|| {
            clear_replies(&mut client);
            client.add_reply_bulk(black_box(&big));
            black_box(client.reply_bytes)
        })
    });
    g.finish();
}

criterion_group!(benches, parse, lookup, reply);
criterion_main!(benches);
