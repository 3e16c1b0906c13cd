//! dict.rs against std's HashMap: insert, lookup hit, lookup miss, on Bytes keys like
//! the keyspace's. Both hash with SipHash-1-3 and a random key, so the difference is
//! the table: chained buckets with incremental rehash versus SwissTable.
//!
//! Run: `cargo bench --bench dict`

use std::collections::HashMap;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ferredis::dict::Dict;

fn keys(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(format!("key:{i:012}")))
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dict_vs_hashmap");
    for &n in &[1_000usize, 100_000] {
        let ks = keys(n);
        g.bench_with_input(BenchmarkId::new("dict_insert", n), &ks, |b, ks| {
            b.iter(|| {
                let mut d: Dict<Bytes, u64> = Dict::new();
                for (i, k) in ks.iter().enumerate() {
                    let _ = d.add(k.clone(), i as u64);
                }
                black_box(d.len())
            })
        });
        g.bench_with_input(BenchmarkId::new("hashmap_insert", n), &ks, |b, ks| {
            b.iter(|| {
                let mut h: HashMap<Bytes, u64> = HashMap::new();
                for (i, k) in ks.iter().enumerate() {
                    h.insert(k.clone(), i as u64);
                }
                black_box(h.len())
            })
        });
        let mut d: Dict<Bytes, u64> = Dict::new();
        let mut h: HashMap<Bytes, u64> = HashMap::new();
        for (i, k) in ks.iter().enumerate() {
            let _ = d.add(k.clone(), i as u64);
            h.insert(k.clone(), i as u64);
        }
        while d.rehash(100) {}
        g.bench_with_input(BenchmarkId::new("dict_get_hit", n), &ks, |b, ks| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in ks {
                    sum += d.fetch_value(k).copied().unwrap_or(0);
                }
                black_box(sum)
            })
        });
        g.bench_with_input(BenchmarkId::new("hashmap_get_hit", n), &ks, |b, ks| {
            b.iter(|| {
                let mut sum = 0u64;
                for k in ks {
                    sum += h.get(k).copied().unwrap_or(0);
                }
                black_box(sum)
            })
        });
        let misses = keys(2 * n).split_off(n);
        g.bench_with_input(BenchmarkId::new("dict_get_miss", n), &misses, |b, ks| {
            b.iter(|| black_box(ks.iter().filter(|k| d.fetch_value(k).is_some()).count()))
        });
        g.bench_with_input(BenchmarkId::new("hashmap_get_miss", n), &misses, |b, ks| {
            b.iter(|| black_box(ks.iter().filter(|k| h.contains_key(*k)).count()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
