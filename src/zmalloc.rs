//! Port of zmalloc.c: an allocator wrapper that counts used memory for INFO.
//!
//! Redis counts every allocation in a process-wide atomic; this is the same idea over
//! the underlying allocator: jemalloc with the `jemalloc` feature (Redis's default
//! allocator on Linux), else the system's. The binary installs it with
//! `#[global_allocator]`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(not(feature = "jemalloc"))]
use std::alloc::System as Underlying;
#[cfg(feature = "jemalloc")]
use tikv_jemallocator::Jemalloc as Underlying;

/// zmalloc.h: ZMALLOC_LIB, what INFO's mem_allocator and the version line name.
#[cfg(feature = "jemalloc")]
pub const ZMALLOC_LIB: &str = "jemalloc-5.3.0";
#[cfg(not(feature = "jemalloc"))]
pub const ZMALLOC_LIB: &str = "libc";

static USED_MEMORY: AtomicUsize = AtomicUsize::new(0);
static PEAK_MEMORY: AtomicUsize = AtomicUsize::new(0);

/// zmalloc.c: the counting allocator
pub struct Zmalloc;

// SAFETY: delegates to the underlying allocator and only adds counters.
unsafe impl GlobalAlloc for Zmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = Underlying.alloc(layout);
        if !p.is_null() {
            USED_MEMORY.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Underlying.dealloc(ptr, layout);
        USED_MEMORY.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = Underlying.realloc(ptr, layout, new_size);
        if !p.is_null() {
            USED_MEMORY.fetch_add(new_size, Ordering::Relaxed);
            USED_MEMORY.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// zmalloc.c: zmalloc_used_memory
pub fn used_memory() -> usize {
    let u = USED_MEMORY.load(Ordering::Relaxed);
    PEAK_MEMORY.fetch_max(u, Ordering::Relaxed);
    u
}

/// The peak INFO reports (server.c: stat_peak_memory).
pub fn peak_memory() -> usize {
    PEAK_MEMORY.load(Ordering::Relaxed).max(used_memory())
}

/// zmalloc.c: zmalloc_get_rss
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// zmalloc.c: zmalloc_get_memory_size
pub fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|x| x.parse::<u64>().ok())
                })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
