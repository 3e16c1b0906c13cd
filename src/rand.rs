//! Port of rand.c: the 48-bit linear congruential generator behind Lua's math.random.
//!
//! Redis replaces libc's rand() inside scripts so that a seeded script produces the same
//! sequence on every platform. The generator is the classic drand48 family:
//! x' = (a * x + c) mod 2^48, and a draw is the top 31 bits of the state.

use std::cell::Cell;

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK48: u64 = (1 << 48) - 1;
/// The state rand.c starts from (X2 X1 X0 = 0x1234 0xABCD 0x330E).
const X_INIT: u64 = 0x1234_ABCD_330E;

/// The largest value redis_lrand48 can return, plus one (rand.h: REDIS_LRAND48_MAX).
pub const REDIS_LRAND48_MAX: i32 = i32::MAX;

thread_local! {
    // One generator for the whole server, as rand.c's static state: only the main
    // thread runs scripts.
    static STATE: Cell<u64> = const { Cell::new(X_INIT) };
}

/// rand.c: redisLrand48
pub fn redis_lrand48() -> i32 {
    STATE.with(|x| {
        let next = (A.wrapping_mul(x.get()).wrapping_add(C)) & MASK48;
        x.set(next);
        (next >> 17) as i32
    })
}

/// rand.c: redisSrand48
pub fn redis_srand48(seedval: i32) {
    let seed = seedval as u32 as u64;
    STATE.with(|x| x.set((seed << 16) | 0x330E));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequence_is_drand48() {
        // lrand48 after srand48(0): the first values glibc prints.
        redis_srand48(0);
        assert_eq!(redis_lrand48(), 366850414);
        assert_eq!(redis_lrand48(), 1610402240);
    }
}
