//! Criterion benchmarks of the pipeline's hot stages: parsing and command lookup.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferredis::commands::CommandTable;
use ferredis::networking::{process_multibulk_buffer, Client, ParseLimits};

fn parse_multibulk(c: &mut Criterion) {
    let mut pipeline = Vec::new();
    for i in 0..16 {
        let key = format!("key:{i:06}");
        pipeline.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$16\r\nxxxxxxxxxxxxxxxx\r\n",
                key.len(),
                key
            )
            .as_bytes(),
        );
    }
    let limits = ParseLimits {
        proto_max_bulk_len: 512 << 20,
        auth_required: false,
    };
    let mut g = c.benchmark_group("process_multibulk_buffer");
    g.throughput(Throughput::Elements(16));
    g.bench_function("16 x SET pipeline", |b| {
        let mut client = Client::new(1, mio::Token(0), None, 0);
        b.iter(|| {
            client.querybuf = BytesMut::from(&pipeline[..]);
            let mut n = 0;
            while !client.querybuf.is_empty() {
                client.reqtype = ferredis::networking::PROTO_REQ_MULTIBULK;
                process_multibulk_buffer(&mut client, limits).unwrap();
                n += client.argv.len();
                client.reset();
            }
            black_box(n)
        })
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let table = CommandTable::new();
    let argv = vec![
        Bytes::from_static(b"SET"),
        Bytes::from_static(b"k"),
        Bytes::from_static(b"v"),
    ];
    c.bench_function("lookup_command SET", |b| {
        b.iter(|| black_box(table.lookup_command(black_box(&argv))))
    });
}

criterion_group!(benches, parse_multibulk, lookup);
criterion_main!(benches);
