//! SCAN's promise, as a property of dict.rs alone: whatever inserts and deletes run
//! between the calls, and however the tables grow, shrink and rehash meanwhile, a full
//! cursor walk returns every key that was present from its first call to its last.
//!
//! The interleavings come from a seeded generator (no extra crate): each case is a
//! different seed, and a failure prints it so it can be replayed.

use std::collections::HashSet;

use ferredis::dict::Dict;

/// A small deterministic generator (splitmix64), so every case replays from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("k{i}").into_bytes()
}

/// One case: a starting population, then a scan whose every call is preceded by a
/// random burst of inserts, deletes, explicit shrinks and rehash steps.
fn run_case(seed: u64) -> bool {
    let mut rng = Rng(seed);
    let mut d: Dict<Vec<u8>, u64> = Dict::new();
    let start = 1 + rng.below(3000);
    let mut next_key = 0u64;
    for _ in 0..start {
        d.add(key(next_key), next_key).unwrap();
        next_key += 1;
    }
    let present_at_start: HashSet<Vec<u8>> = d.iter().map(|e| e.key.clone()).collect();
    let mut deleted: HashSet<Vec<u8>> = HashSet::new();
    let mut returned: HashSet<Vec<u8>> = HashSet::new();
    let grow_bias = rng.below(3); // 0: shrinking run, 1: balanced, 2: growing run
    let mut cursor = 0u64;
    let mut calls = 0;
    let mut saw_rehash = false;
    loop {
        let burst = rng.below(12);
        for _ in 0..burst {
            match rng.below(10) {
                // Growth is capped so the walk ends (an ever-doubling table would
                // keep a one-bucket-per-call cursor busy for a long time).
                0..=3 if grow_bias > 0 && d.len() < 4 * start as usize + 64 => {
                    d.add(key(next_key), next_key).unwrap();
                    next_key += 1;
                }
                0..=5 => {
                    let victim = key(rng.below(next_key.max(1)));
                    if d.delete(&victim).is_some() {
                        deleted.insert(victim);
                    }
                }
                6 => {
                    // What tryResizeHashTables does from the cron.
                    if d.slots() > 4 && d.len() * 100 / d.slots() < 10 {
                        d.resize();
                    }
                }
                7 => {
                    d.rehash(1);
                }
                _ => {
                    let _ = d.find(&key(rng.below(next_key.max(1))));
                }
            }
            saw_rehash |= d.is_rehashing();
        }
        saw_rehash |= d.is_rehashing();
        cursor = d.scan(cursor, |k, _| {
            returned.insert(k.clone());
        });
        calls += 1;
        if cursor == 0 {
            break;
        }
        assert!(calls < 1_000_000, "seed {seed}: scan does not terminate");
    }
    for k in &present_at_start {
        if deleted.contains(k) {
            continue;
        }
        assert!(
            returned.contains(k),
            "seed {seed}: key {:?} present throughout the scan was never returned \
             (calls {calls}, rehash seen {saw_rehash})",
            String::from_utf8_lossy(k)
        );
    }
    saw_rehash
}

#[test]
fn scan_returns_every_key_present_throughout_across_rehashes() {
    let cases: u64 = std::env::var("SCAN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut rehashing_cases = 0;
    for seed in 0..cases {
        rehashing_cases += run_case(0xF00D_0000 + seed) as u64;
    }
    // The property is only interesting if scans really ran across rehashes.
    assert!(
        rehashing_cases * 2 > cases,
        "only {rehashing_cases}/{cases} cases rehashed"
    );
}

/// The cursor also survives a table that is mid-rehash for the whole walk, in both
/// directions (growing and shrinking), with rehashing driven only by the scan's own
/// neighbours' lookups.
#[test]
fn scan_over_a_frozen_rehash_in_both_directions() {
    for &(fill, target) in &[(1000u64, 8192usize), (5000, 16)] {
        let mut d: Dict<Vec<u8>, u64> = Dict::new();
        for i in 0..fill {
            d.add(key(i), i).unwrap();
        }
        while d.rehash(100) {}
        if target < d.len() {
            // Shrinking needs fewer elements than the target size.
            for i in 10..fill {
                d.delete(&key(i));
            }
            while d.rehash(100) {}
            assert!(d.resize());
        } else {
            assert!(d.expand(target));
        }
        assert!(d.is_rehashing());
        let expect: HashSet<Vec<u8>> = d.iter().map(|e| e.key.clone()).collect();
        let mut got = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                got.insert(k.clone());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(got, expect);
    }
}
