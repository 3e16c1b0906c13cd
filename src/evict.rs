//! Port of evict.c: maxmemory, the LRU clock, the LFU counter, and eviction with
//! Redis's approximations (sampled keys, a 16-entry pool of the best candidates).

use bytes::Bytes;

use crate::object::{estimate_object_idle_time, LRU_CLOCK_MAX, LRU_CLOCK_RESOLUTION};
use crate::server::Server;

// server.h: MAXMEMORY_FLAG_* and MAXMEMORY_* policies.
pub const MAXMEMORY_FLAG_LRU: u32 = 1 << 0;
pub const MAXMEMORY_FLAG_LFU: u32 = 1 << 1;
pub const MAXMEMORY_FLAG_ALLKEYS: u32 = 1 << 2;
pub const MAXMEMORY_FLAG_NO_SHARED_INTEGERS: u32 = MAXMEMORY_FLAG_LRU | MAXMEMORY_FLAG_LFU;
pub const MAXMEMORY_VOLATILE_LRU: u32 = MAXMEMORY_FLAG_LRU;
pub const MAXMEMORY_VOLATILE_LFU: u32 = (1 << 8) | MAXMEMORY_FLAG_LFU;
pub const MAXMEMORY_VOLATILE_TTL: u32 = 2 << 8;
pub const MAXMEMORY_VOLATILE_RANDOM: u32 = 3 << 8;
pub const MAXMEMORY_ALLKEYS_LRU: u32 = (4 << 8) | MAXMEMORY_FLAG_LRU | MAXMEMORY_FLAG_ALLKEYS;
pub const MAXMEMORY_ALLKEYS_LFU: u32 = (5 << 8) | MAXMEMORY_FLAG_LFU | MAXMEMORY_FLAG_ALLKEYS;
pub const MAXMEMORY_ALLKEYS_RANDOM: u32 = (6 << 8) | MAXMEMORY_FLAG_ALLKEYS;
pub const MAXMEMORY_NO_EVICTION: u32 = 7 << 8;

const POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", MAXMEMORY_VOLATILE_LRU),
    ("volatile-lfu", MAXMEMORY_VOLATILE_LFU),
    ("volatile-random", MAXMEMORY_VOLATILE_RANDOM),
    ("volatile-ttl", MAXMEMORY_VOLATILE_TTL),
    ("allkeys-lru", MAXMEMORY_ALLKEYS_LRU),
    ("allkeys-lfu", MAXMEMORY_ALLKEYS_LFU),
    ("allkeys-random", MAXMEMORY_ALLKEYS_RANDOM),
    ("noeviction", MAXMEMORY_NO_EVICTION),
];

/// The name CONFIG GET and INFO show for a policy (config.c: maxmemory_policy_enum).
pub fn policy_name(p: u32) -> &'static str {
    POLICIES
        .iter()
        .find(|(_, v)| *v == p)
        .map(|(n, _)| *n)
        .unwrap_or("noeviction")
}

pub fn policy_from_name(name: &str) -> Option<u32> {
    POLICIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// evict.c: EVPOOL_SIZE
pub const EVPOOL_SIZE: usize = 16;

/// evict.c: struct evictionPoolEntry
#[derive(Debug, Clone, Default)]
pub struct EvictionPoolEntry {
    /// Idle time for LRU, 255 - frequency for LFU, "how soon it expires" inverted for
    /// volatile-ttl: in every case, bigger means a better candidate.
    pub idle: u64,
    pub key: Option<Bytes>,
    pub dbid: usize,
}

/// evict.c: evictionPoolAlloc
pub fn eviction_pool_alloc() -> Vec<EvictionPoolEntry> {
    vec![EvictionPoolEntry::default(); EVPOOL_SIZE]
}

/// evict.c: getLRUClock (seconds, in 24 bits)
pub fn get_lru_clock() -> u32 {
    ((crate::util::mstime() / LRU_CLOCK_RESOLUTION) as u32) & LRU_CLOCK_MAX
}

/// evict.c: LFUGetTimeInMinutes (16 bits of minutes)
pub fn lfu_get_time_in_minutes(s: &Server) -> u64 {
    ((s.unixtime / 60) as u64) & 65535
}

/// evict.c: LFUTimeElapsed (wraps once around 16 bits)
fn lfu_time_elapsed(now: u64, ldt: u64) -> u64 {
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

// ANCHOR: lfu
/// evict.c: LFULogIncr
///
/// The counter is 8 bits for up to millions of hits: each hit increments it with
/// probability 1 / ((counter - 5) * lfu-log-factor + 1), so it grows roughly with
/// the logarithm of the access count.
pub fn lfu_log_incr(counter: u64, lfu_log_factor: i64) -> u64 {
    if counter == 255 {
        return 255;
    }
    let r = (crate::dict::random_ulong() >> 11) as f64 / (1u64 << 53) as f64;
    let baseval = (counter as f64 - crate::object::LFU_INIT_VAL as f64).max(0.0);
    let p = 1.0 / (baseval * lfu_log_factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// evict.c: LFUDecrAndReturn (the counter after one decrement per lfu-decay-time
/// minutes without access; the object itself is updated only when accessed)
pub fn lfu_decr_and_return_with(lru: u32, now_minutes: u64, lfu_decay_time: i64) -> u64 {
    let ldt = (lru >> 8) as u64;
    let counter = (lru & 255) as u64;
    let num_periods = if lfu_decay_time > 0 {
        lfu_time_elapsed(now_minutes, ldt) / lfu_decay_time as u64
    } else {
        0
    };
    counter.saturating_sub(num_periods)
}

/// evict.c: LFUDecrAndReturn, with the server's clock and configuration
pub fn lfu_decr_and_return(s: &Server, lru: u32) -> u64 {
    lfu_decr_and_return_with(lru, lfu_get_time_in_minutes(s), s.config.lfu_decay_time)
}

/// db.c: updateLFU (decay, then a logarithmic increment, then the new access time)
pub fn update_lfu(lru: u32, now_minutes: u64, lfu_log_factor: i64, lfu_decay_time: i64) -> u32 {
    let counter = lfu_decr_and_return_with(lru, now_minutes, lfu_decay_time);
    let counter = lfu_log_incr(counter, lfu_log_factor);
    ((now_minutes as u32) << 8) | counter as u32
}
// ANCHOR_END: lfu

// ANCHOR: eviction_pool_populate
/// evict.c: evictionPoolPopulate
///
/// Samples `maxmemory-samples` keys of one database (all keys, or only those with a
/// TTL for volatile-* policies) and inserts each into the pool, which stays sorted
/// by idle score ascending: the best candidate is at the right end. A sample worse
/// than everything in a full pool is dropped.
fn eviction_pool_populate(s: &mut Server, dbid: usize) {
    let policy = s.config.maxmemory_policy;
    let allkeys = policy & MAXMEMORY_FLAG_ALLKEYS != 0;
    let samples = s.config.maxmemory_samples.max(1) as usize;
    let lruclock = s.lru_clock();
    let minutes = lfu_get_time_in_minutes(s);
    let decay = s.config.lfu_decay_time;
    let mut scored: Vec<(u64, Bytes)> = Vec::with_capacity(samples);
    {
        let db = &mut s.db[dbid];
        if allkeys {
            for e in db.dict.get_some_keys(samples) {
                scored.push((
                    score(policy, &e.val, 0, lruclock, minutes, decay),
                    Bytes::copy_from_slice(&e.key),
                ));
            }
        } else {
            let keydict = &db.dict;
            for e in db.expires.get_some_keys(samples) {
                let idle = if policy == MAXMEMORY_VOLATILE_TTL {
                    u64::MAX - e.val as u64
                } else {
                    match keydict.get(&e.key) {
                        Some(kde) => score(policy, &kde.val, 0, lruclock, minutes, decay),
                        None => continue,
                    }
                };
                scored.push((idle, e.key.clone()));
            }
        }
    }
    let pool = &mut s.eviction_pool;
    for (idle, key) in scored {
        let mut k = 0;
        while k < EVPOOL_SIZE && pool[k].key.is_some() && pool[k].idle < idle {
            k += 1;
        }
        if k == 0 && pool[EVPOOL_SIZE - 1].key.is_some() {
            continue;
        } else if k < EVPOOL_SIZE && pool[k].key.is_none() {
            // An empty slot: insert as is.
        } else if pool[EVPOOL_SIZE - 1].key.is_none() {
            // Free room on the right: shift the tail right.
            pool.pop();
            pool.insert(k, EvictionPoolEntry::default());
        } else {
            // Full: drop the worst (leftmost) and shift the head left.
            k -= 1;
            pool.remove(0);
            pool.insert(k, EvictionPoolEntry::default());
        }
        pool[k] = EvictionPoolEntry {
            idle,
            key: Some(key),
            dbid,
        };
    }
}
// ANCHOR_END: eviction_pool_populate

fn score(
    policy: u32,
    o: &crate::object::RObj,
    _ttl: i64,
    lruclock: u32,
    minutes: u64,
    decay: i64,
) -> u64 {
    if policy & MAXMEMORY_FLAG_LRU != 0 {
        estimate_object_idle_time(lruclock, o.lru)
    } else {
        255 - lfu_decr_and_return_with(o.lru, minutes, decay)
    }
}

/// evict.c: the result of performEvictions
pub const EVICT_OK: u8 = 0;
pub const EVICT_RUNNING: u8 = 1;
pub const EVICT_FAIL: u8 = 2;

/// evict.c: getMaxmemoryState. Returns how much must be freed, 0 when under the limit.
/// Nothing is left out of the count yet (Redis leaves out replica and AOF buffers).
pub fn get_maxmemory_state(s: &Server) -> (bool, usize) {
    let maxmemory = s.config.maxmemory as usize;
    if maxmemory == 0 {
        return (true, 0);
    }
    let used = crate::zmalloc::used_memory();
    if used <= maxmemory {
        return (true, 0);
    }
    (false, used - maxmemory)
}

/// evict.c: evictionTimeLimitUs (how long one call may evict: 500 us at the default
/// tenacity, growing 15% a step above 10, unlimited at 100)
fn eviction_time_limit_us(s: &Server) -> u64 {
    let t = s.config.maxmemory_eviction_tenacity;
    if t <= 10 {
        return 50 * t as u64;
    }
    if t < 100 {
        return (500.0 * 1.15f64.powf(t as f64 - 10.0)) as u64;
    }
    u64::MAX
}

/// evict.c: evictionTimeProc (continues an eviction that ran out of time)
fn eviction_time_proc(s: &mut Server, _id: i64) -> i64 {
    if perform_evictions(s) == EVICT_RUNNING {
        return 0;
    }
    s.eviction_proc_running = false;
    crate::ae::AE_NOMORE
}

/// Microseconds since memory went over the limit (for INFO's
/// current_eviction_exceeded_time), 0 when under it.
pub fn current_eviction_exceeded_time(s: &Server) -> u64 {
    if s.eviction_exceeded_start_us == 0 {
        0
    } else {
        (crate::util::ustime() - s.eviction_exceeded_start_us).max(0) as u64
    }
}

/// evict.c: isSafeToPerformEvictions
///
/// Never while a busy script runs (it must see the data it started with) or while a
/// file loads (the keys being evicted might be loaded again a moment later).
fn is_safe_to_perform_evictions(s: &Server) -> bool {
    !(s.lctx.script_timedout || s.loading)
}

// ANCHOR: perform_evictions
/// evict.c: performEvictions
///
/// Run before any command while maxmemory is set. Frees keys, best candidate first,
/// until used memory is back under the limit; gives up (EVICT_FAIL, and the command
/// gets -OOM if it may grow memory) when nothing is left to evict, and hands over to
/// a timer (EVICT_RUNNING) when one call has used its time budget.
pub fn perform_evictions(s: &mut Server) -> u8 {
    if !is_safe_to_perform_evictions(s) {
        return EVICT_OK;
    }
    let (under, mem_tofree) = get_maxmemory_state(s);
    if under {
        if s.eviction_exceeded_start_us != 0 {
            s.stat_total_eviction_exceeded_time += current_eviction_exceeded_time(s);
            s.eviction_exceeded_start_us = 0;
        }
        return EVICT_OK;
    }
    if s.eviction_exceeded_start_us == 0 {
        s.eviction_exceeded_start_us = crate::util::ustime();
    }
    let policy = s.config.maxmemory_policy;
    if policy == MAXMEMORY_NO_EVICTION {
        return EVICT_FAIL;
    }
    let allkeys = policy & MAXMEMORY_FLAG_ALLKEYS != 0;
    let time_limit = eviction_time_limit_us(s);
    let start = crate::util::ustime();
    let mut mem_freed: usize = 0;
    let mut keys_freed: u64 = 0;
    while mem_freed < mem_tofree {
        let mut best: Option<(usize, Bytes)> = None;
        if policy & (MAXMEMORY_FLAG_LRU | MAXMEMORY_FLAG_LFU) != 0
            || policy == MAXMEMORY_VOLATILE_TTL
        {
            while best.is_none() {
                let mut total_keys = 0;
                for i in 0..s.db.len() {
                    let keys = if allkeys {
                        s.db[i].dict.len()
                    } else {
                        s.db[i].expires.len()
                    };
                    if keys != 0 {
                        eviction_pool_populate(s, i);
                        total_keys += keys;
                    }
                }
                if total_keys == 0 {
                    break;
                }
                // From the best candidate down; a pooled key that has gone since it
                // was sampled (a ghost) is skipped.
                for k in (0..EVPOOL_SIZE).rev() {
                    let Some(key) = s.eviction_pool[k].key.take() else {
                        continue;
                    };
                    let dbid = s.eviction_pool[k].dbid;
                    s.eviction_pool[k].idle = 0;
                    let exists = if allkeys {
                        s.db[dbid].dict.contains_key(&key)
                    } else {
                        s.db[dbid].expires.contains_key(&key)
                    };
                    if exists {
                        best = Some((dbid, key));
                        break;
                    }
                }
            }
        } else {
            // The random policies: a random key of the next non-empty database.
            for _ in 0..s.db.len() {
                s.eviction_next_db = s.eviction_next_db.wrapping_add(1);
                let j = s.eviction_next_db % s.db.len();
                let db = &mut s.db[j];
                let e = if allkeys {
                    db.dict
                        .get_random_key()
                        .map(|e| Bytes::copy_from_slice(&e.key))
                } else {
                    db.expires.get_random_key().map(|e| e.key.clone())
                };
                if let Some(k) = e {
                    best = Some((j, k));
                    break;
                }
            }
        }
        let Some((dbid, key)) = best else {
            // Nothing left that this policy may evict.
            return EVICT_FAIL;
        };
        let before = crate::zmalloc::used_memory();
        s.db[dbid].db_delete(&key);
        let after = crate::zmalloc::used_memory();
        mem_freed += before.saturating_sub(after);
        s.stat_evictedkeys += 1;
        crate::db::signal_modified_key(s, dbid, &key);
        crate::notify::notify_keyspace_event(
            s,
            crate::notify::NOTIFY_EVICTED,
            "evicted",
            &key,
            dbid,
        );
        crate::db::propagate_deletion(s, dbid, &key);
        crate::server::propagate_pending_commands(s);
        keys_freed += 1;
        if keys_freed.is_multiple_of(16) {
            // Free memory may already be enough if the sizes moved meanwhile.
            if get_maxmemory_state(s).0 {
                break;
            }
            if (crate::util::ustime() - start) as u64 > time_limit {
                if !s.eviction_proc_running {
                    s.eviction_proc_running = true;
                    let now = s.mstime;
                    s.el.create_time_event(now, 0, eviction_time_proc);
                }
                return EVICT_RUNNING;
            }
        }
    }
    EVICT_OK
}
// ANCHOR_END: perform_evictions
