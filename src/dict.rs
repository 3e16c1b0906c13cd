//! Port of dict.c: the chained hash table behind every keyspace, with two tables and
//! incremental rehashing, the reverse-binary SCAN cursor, and random sampling.
//!
//! Safe Rust throughout. A bucket is a singly linked chain of boxed entries, as in
//! Redis: rehashing moves the boxes from one table to the other without allocating,
//! and an entry keeps its address while it lives. Where Redis needs "safe" iterators
//! because a callback may change the table, Rust's borrow rules do most of the work:
//! `iter` and `scan` take `&self`, so nothing can rehash or delete under them;
//! `SafeIter` is the one cursor that lets its caller mutate the dict between steps.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// dict.h: DICT_HT_INITIAL_EXP / DICT_HT_INITIAL_SIZE
pub const DICT_HT_INITIAL_EXP: u32 = 2;
pub const DICT_HT_INITIAL_SIZE: usize = 1 << DICT_HT_INITIAL_EXP;
/// dict.c: dict_force_resize_ratio (grow even when resizing is discouraged past 5:1)
pub const DICT_FORCE_RESIZE_RATIO: usize = 5;
/// dict.h: dictResizeEnable. Whether tables may grow, shrink and rehash: a fork child
/// shares the parent's pages, and every page a rehash touches gets copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DictResizeEnable {
    /// No child: resize freely.
    Enable = 0,
    /// A child is alive (the parent): grow only past 5:1, rehash only big jumps.
    Avoid = 1,
    /// We are the child: never touch the tables' layout.
    Forbid = 2,
}

/// dict.c: dict_can_resize. One process-wide switch, as in Redis: every dict obeys
/// the same fork, and the dicts have no pointer back to the server to ask.
static DICT_CAN_RESIZE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// dict.c: dictSetResizeEnabled
pub fn dict_set_resize_enabled(enable: DictResizeEnable) {
    DICT_CAN_RESIZE.store(enable as u8, std::sync::atomic::Ordering::Relaxed);
}

/// The current policy (dict.c reads dict_can_resize directly).
pub fn dict_can_resize() -> DictResizeEnable {
    match DICT_CAN_RESIZE.load(std::sync::atomic::Ordering::Relaxed) {
        0 => DictResizeEnable::Enable,
        1 => DictResizeEnable::Avoid,
        _ => DictResizeEnable::Forbid,
    }
}

/// dict.c: GETFAIR_NUM_ENTRIES
const GETFAIR_NUM_ENTRIES: usize = 15;
/// dict.c: DICT_STATS_VECTLEN
const DICT_STATS_VECTLEN: usize = 50;

/// What a dict key must offer: its bytes, which are hashed and compared.
pub trait DictKey {
    fn key_bytes(&self) -> &[u8];
    /// dict.h: dictType.keyDup. A copy of a stored key for a caller that keeps it
    /// a while, which leaves the stored key untouched.
    fn key_dup(&self) -> Self;
}

impl DictKey for bytes::Bytes {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self
    }
    /// Copies rather than clones: cloning a Bytes made from a Vec (how stored keys
    /// are made) allocates a 24-byte shared header that the stored key then keeps
    /// for the rest of its life.
    #[inline]
    fn key_dup(&self) -> Self {
        bytes::Bytes::copy_from_slice(self)
    }
}

impl DictKey for Box<[u8]> {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self
    }
    #[inline]
    fn key_dup(&self) -> Self {
        self.clone()
    }
}

impl DictKey for Vec<u8> {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self
    }
    #[inline]
    fn key_dup(&self) -> Self {
        self.clone()
    }
}

/// The process-wide hash seed (dict.c: dict_hash_function_seed). Set once, at random,
/// so a client cannot choose keys that all land in one bucket.
static HASH_SEED: OnceLock<[u8; 16]> = OnceLock::new();

/// dict.c: dictGenHashFunction (SipHash-1-2 over the key, with the random seed)
#[inline]
pub fn dict_gen_hash_function(key: &[u8]) -> u64 {
    let seed = HASH_SEED.get_or_init(|| {
        // std's RandomState draws its keys from the OS; two of its hashes give 16 bytes.
        let r = RandomState::new();
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&r.hash_one(0u64).to_le_bytes());
        k[8..].copy_from_slice(&r.hash_one(1u64).to_le_bytes());
        k
    });
    crate::siphash::siphash(key, seed)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(
        (crate::util::ustime() as u64) ^ 0x9E37_79B9_7F4A_7C15 ^ (std::process::id() as u64) << 32
    );
}

/// dict.c: randomULong
///
/// Redis draws from its Mersenne Twister (mt19937-64.c); sampling needs only a cheap,
/// well-mixed sequence, so this is xorshift64* over a per-thread state.
pub fn random_ulong() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// dict.h: dictEntry
pub struct DictEntry<K, V> {
    pub key: K,
    pub val: V,
    next: Option<Box<DictEntry<K, V>>>,
}

type Bucket<K, V> = Option<Box<DictEntry<K, V>>>;

/// dict.h: dict. Two tables; `ht_table[1]` is only in use while rehashing.
pub struct Dict<K, V> {
    ht_table: [Vec<Bucket<K, V>>; 2],
    ht_used: [usize; 2],
    /// Next bucket of table 0 to move, or -1 when not rehashing.
    rehashidx: isize,
    /// >0 while rehashing is paused (a safe iterator is live).
    pauserehash: i32,
}

impl<K: DictKey, V> Default for Dict<K, V> {
    fn default() -> Self {
        Dict::new()
    }
}

/// dict.c: _dictNextExp (smallest power of two >= size, at least the initial size)
fn dict_next_size(size: usize) -> usize {
    if size <= DICT_HT_INITIAL_SIZE {
        return DICT_HT_INITIAL_SIZE;
    }
    size.checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
}

/// dict.c: rev (reverse the bits of the cursor)
#[inline]
fn rev(v: u64) -> u64 {
    v.reverse_bits()
}

fn new_table<K, V>(size: usize) -> Vec<Bucket<K, V>> {
    let mut t = Vec::with_capacity(size);
    t.resize_with(size, || None);
    t
}

impl<K: DictKey, V> Dict<K, V> {
    /// dict.c: dictCreate
    pub fn new() -> Self {
        Dict {
            ht_table: [Vec::new(), Vec::new()],
            ht_used: [0, 0],
            rehashidx: -1,
            pauserehash: 0,
        }
    }

    /// dict.h: dictSize
    #[inline]
    pub fn len(&self) -> usize {
        self.ht_used[0] + self.ht_used[1]
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// dict.h: dictSlots
    #[inline]
    pub fn slots(&self) -> usize {
        self.ht_table[0].len() + self.ht_table[1].len()
    }

    /// The size of one table (dict.h: DICTHT_SIZE).
    #[inline]
    pub fn table_size(&self, table: usize) -> usize {
        self.ht_table[table].len()
    }

    /// dict.h: dictIsRehashing
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehashidx != -1
    }

    /// dict.h: dictPauseRehashing
    pub fn pause_rehashing(&mut self) {
        self.pauserehash += 1;
    }

    /// dict.h: dictResumeRehashing
    pub fn resume_rehashing(&mut self) {
        self.pauserehash -= 1;
        debug_assert!(self.pauserehash >= 0);
    }

    // ANCHOR: dict_expand
    /// dict.c: _dictExpand
    ///
    /// The first expansion simply creates table 0; any later one creates table 1 and
    /// starts an incremental rehash. Refused while rehashing, when the size would not
    /// hold the elements, or when it would not change anything.
    pub fn expand(&mut self, size: usize) -> bool {
        if self.is_rehashing() || self.ht_used[0] > size {
            return false;
        }
        let realsize = dict_next_size(size);
        if realsize == self.ht_table[0].len() {
            return false;
        }
        let table = new_table(realsize);
        if self.ht_table[0].is_empty() {
            self.ht_table[0] = table;
            return true;
        }
        self.ht_table[1] = table;
        self.ht_used[1] = 0;
        self.rehashidx = 0;
        true
    }
    // ANCHOR_END: dict_expand

    /// dict.c: dictResize (shrink to the smallest power of two holding every element)
    pub fn resize(&mut self) -> bool {
        if dict_can_resize() != DictResizeEnable::Enable || self.is_rehashing() {
            return false;
        }
        let minimal = self.ht_used[0].max(DICT_HT_INITIAL_SIZE);
        self.expand(minimal)
    }

    // ANCHOR: dict_rehash
    /// dict.c: dictRehash
    ///
    /// Moves up to `n` buckets from table 0 to table 1, visiting at most `n*10` empty
    /// buckets so a sparse table cannot make one step slow. Returns true while there
    /// is more to move.
    pub fn rehash(&mut self, n: usize) -> bool {
        let policy = dict_can_resize();
        if policy == DictResizeEnable::Forbid || !self.is_rehashing() {
            return false;
        }
        // While a child lives, only a rehash that changes the size a lot is worth
        // the copied pages.
        let (s0, s1) = (self.ht_table[0].len(), self.ht_table[1].len());
        if policy == DictResizeEnable::Avoid
            && ((s1 > s0 && s1 / s0 < DICT_FORCE_RESIZE_RATIO)
                || (s1 < s0 && s0 / s1 < DICT_FORCE_RESIZE_RATIO))
        {
            return false;
        }
        let mut empty_visits = n * 10;
        let mask1 = self.ht_table[1].len() - 1;
        let mut n = n;
        while n > 0 && self.ht_used[0] != 0 {
            n -= 1;
            let [t0, t1] = &mut self.ht_table;
            while t0[self.rehashidx as usize].is_none() {
                self.rehashidx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    return true;
                }
            }
            let mut de = t0[self.rehashidx as usize].take();
            while let Some(mut e) = de {
                de = e.next.take();
                let h = dict_gen_hash_function(e.key.key_bytes()) as usize & mask1;
                e.next = t1[h].take();
                t1[h] = Some(e);
                self.ht_used[0] -= 1;
                self.ht_used[1] += 1;
            }
            self.rehashidx += 1;
        }
        if self.ht_used[0] == 0 {
            self.ht_table[0] = std::mem::take(&mut self.ht_table[1]);
            self.ht_used[0] = self.ht_used[1];
            self.ht_used[1] = 0;
            self.rehashidx = -1;
            return false;
        }
        true
    }
    // ANCHOR_END: dict_rehash

    /// dict.c: dictRehashMilliseconds (100 buckets at a time until `ms` have passed)
    pub fn rehash_milliseconds(&mut self, ms: i64) -> usize {
        if self.pauserehash > 0 {
            return 0;
        }
        let start = crate::util::mstime();
        let mut rehashes = 0;
        while self.rehash(100) {
            rehashes += 100;
            if crate::util::mstime() - start > ms {
                break;
            }
        }
        rehashes
    }

    /// dict.c: _dictRehashStep (one bucket, unless paused)
    #[inline]
    fn rehash_step(&mut self) {
        if self.pauserehash == 0 {
            self.rehash(1);
        }
    }

    // ANCHOR: dict_expand_if_needed
    /// dict.c: _dictExpandIfNeeded
    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht_table[0].len();
        if size == 0 {
            self.expand(DICT_HT_INITIAL_SIZE);
            return;
        }
        // Grow at a 1:1 ratio; while a fork child is alive (copy on write) only past
        // 5:1, and never inside the child.
        let policy = dict_can_resize();
        if (policy == DictResizeEnable::Enable && self.ht_used[0] >= size)
            || (policy != DictResizeEnable::Forbid
                && self.ht_used[0] / size > DICT_FORCE_RESIZE_RATIO)
        {
            self.expand(self.ht_used[0] + 1);
        }
    }
    // ANCHOR_END: dict_expand_if_needed

    /// Where a key lives: (table, bucket index, position in the chain), without
    /// rehashing. The callers that need the entry itself step `position` links from
    /// the bucket (`entry_at_mut`), comparing no key a second time.
    #[inline]
    fn locate(&self, key: &[u8], hash: u64) -> Option<(usize, usize, usize)> {
        for table in 0..=1 {
            let t = &self.ht_table[table];
            if t.is_empty() {
                if table == 0 {
                    continue;
                }
                break;
            }
            let idx = hash as usize & (t.len() - 1);
            let mut he = t[idx].as_deref();
            let mut pos = 0;
            while let Some(e) = he {
                if e.key.key_bytes() == key {
                    return Some((table, idx, pos));
                }
                he = e.next.as_deref();
                pos += 1;
            }
            if !self.is_rehashing() {
                break;
            }
        }
        None
    }

    /// The entry `locate` found: `pos` links down the chain of bucket `idx`.
    fn entry_at_mut(&mut self, table: usize, idx: usize, pos: usize) -> &mut DictEntry<K, V> {
        let mut e = self.ht_table[table][idx].as_deref_mut();
        for _ in 0..pos {
            e = e.and_then(|e| e.next.as_deref_mut());
        }
        e.expect("entry_at_mut: located entry vanished")
    }

    // ANCHOR: dict_find
    /// dict.c: dictFind
    ///
    /// A lookup does one step of rehashing first: a big rehash is paid for a bucket
    /// at a time by the operations that touch the table, never all at once.
    #[inline]
    pub fn find(&mut self, key: &[u8]) -> Option<&mut DictEntry<K, V>> {
        if self.is_empty() {
            return None;
        }
        if self.is_rehashing() {
            self.rehash_step();
        }
        let h = dict_gen_hash_function(key);
        let (table, idx, pos) = self.locate(key, h)?;
        Some(self.entry_at_mut(table, idx, pos))
    }
    // ANCHOR_END: dict_find

    /// dict.c: dictFetchValue
    #[inline]
    pub fn fetch_value(&mut self, key: &[u8]) -> Option<&mut V> {
        self.find(key).map(|e| &mut e.val)
    }

    /// A lookup that does no rehashing work, for read-only contexts (INFO, DEBUG).
    pub fn get(&self, key: &[u8]) -> Option<&DictEntry<K, V>> {
        if self.is_empty() {
            return None;
        }
        let h = dict_gen_hash_function(key);
        let (table, idx, pos) = self.locate(key, h)?;
        let mut e = self.ht_table[table][idx].as_deref();
        for _ in 0..pos {
            e = e.and_then(|e| e.next.as_deref());
        }
        e
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    // ANCHOR: dict_add
    /// dict.c: dictAddRaw (via dictAdd)
    ///
    /// Inserts at the head of the chain (recent keys are the likeliest to be read
    /// again), into table 1 while rehashing so table 0 only ever empties. Gives the
    /// pair back if the key exists.
    pub fn add(&mut self, key: K, val: V) -> Result<&mut DictEntry<K, V>, (K, V)> {
        if self.is_rehashing() {
            self.rehash_step();
        }
        let h = dict_gen_hash_function(key.key_bytes());
        self.expand_if_needed();
        if self.locate(key.key_bytes(), h).is_some() {
            return Err((key, val));
        }
        let table = if self.is_rehashing() { 1 } else { 0 };
        let t = &mut self.ht_table[table];
        let idx = h as usize & (t.len() - 1);
        let next = t[idx].take();
        t[idx] = Some(Box::new(DictEntry { key, val, next }));
        self.ht_used[table] += 1;
        Ok(t[idx].as_deref_mut().unwrap())
    }
    // ANCHOR_END: dict_add

    /// dict.c: dictReplace (add, or overwrite the value). True if the key was new.
    pub fn replace(&mut self, key: K, val: V) -> bool {
        match self.add(key, val) {
            Ok(_) => true,
            Err((key, val)) => {
                let e = self.find(key.key_bytes()).expect("replace: key exists");
                e.val = val;
                false
            }
        }
    }

    /// dict.c: dictGenericDelete (dictDelete / dictUnlink): unlinks and returns the pair.
    pub fn delete(&mut self, key: &[u8]) -> Option<(K, V)> {
        if self.is_empty() {
            return None;
        }
        if self.is_rehashing() {
            self.rehash_step();
        }
        let h = dict_gen_hash_function(key);
        let (table, idx, pos) = self.locate(key, h)?;
        let mut link = &mut self.ht_table[table][idx];
        for _ in 0..pos {
            link = &mut link.as_mut()?.next;
        }
        let mut boxed = link.take()?;
        *link = boxed.next.take();
        self.ht_used[table] -= 1;
        let DictEntry { key, val, .. } = *boxed;
        Some((key, val))
    }

    /// dict.c: dictEmpty
    pub fn empty(&mut self) {
        *self = Dict::new();
    }

    // ANCHOR: dict_scan
    /// dict.c: dictScan
    ///
    /// Visits the bucket(s) the cursor names and returns the next cursor (0 when the
    /// scan is complete). The cursor counts with its bits reversed, so it walks the
    /// high bits of a bucket index first: when the table doubles, bucket `b` splits
    /// into `b` and `b + size`, both of which the reversed counter has either already
    /// visited (with `b`) or will still visit, so no element present for the whole
    /// scan is missed. While rehashing, the smaller table's bucket is visited, then
    /// every bucket of the larger table it expands into.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let emit = |t: &Vec<Bucket<K, V>>, idx: usize, f: &mut dyn FnMut(&K, &V)| {
            let mut he = t[idx].as_deref();
            while let Some(e) = he {
                f(&e.key, &e.val);
                he = e.next.as_deref();
            }
        };
        if !self.is_rehashing() {
            let t0 = &self.ht_table[0];
            let m0 = (t0.len() - 1) as u64;
            emit(t0, (v & m0) as usize, &mut f);
            // Set the bits above the mask so the increment carries through them.
            v |= !m0;
            v = rev(v);
            v = v.wrapping_add(1);
            v = rev(v);
        } else {
            let (small, big) = if self.ht_table[0].len() > self.ht_table[1].len() {
                (&self.ht_table[1], &self.ht_table[0])
            } else {
                (&self.ht_table[0], &self.ht_table[1])
            };
            let m0 = (small.len() - 1) as u64;
            let m1 = (big.len() - 1) as u64;
            emit(small, (v & m0) as usize, &mut f);
            loop {
                emit(big, (v & m1) as usize, &mut f);
                v |= !m1;
                v = rev(v);
                v = v.wrapping_add(1);
                v = rev(v);
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }
    // ANCHOR_END: dict_scan

    /// dict.c: dictGetRandomKey
    ///
    /// Picks a random non-empty bucket, then a random entry of its chain (so keys in
    /// long chains are a little less likely: that is why `get_fair_random_key` exists).
    pub fn get_random_key(&mut self) -> Option<&DictEntry<K, V>> {
        if self.is_empty() {
            return None;
        }
        if self.is_rehashing() {
            self.rehash_step();
        }
        let (table, idx) = if self.is_rehashing() {
            let s0 = self.ht_table[0].len();
            let r = self.rehashidx as usize;
            // Buckets below rehashidx in table 0 are known to be empty.
            loop {
                let h = r + (random_ulong() as usize % (self.slots() - r));
                let (t, i) = if h >= s0 { (1, h - s0) } else { (0, h) };
                if self.ht_table[t][i].is_some() {
                    break (t, i);
                }
            }
        } else {
            let m = self.ht_table[0].len() - 1;
            loop {
                let h = random_ulong() as usize & m;
                if self.ht_table[0][h].is_some() {
                    break (0, h);
                }
            }
        };
        let mut listlen = 0;
        let mut he = self.ht_table[table][idx].as_deref();
        while let Some(e) = he {
            listlen += 1;
            he = e.next.as_deref();
        }
        let mut listele = random_ulong() as usize % listlen;
        let mut he = self.ht_table[table][idx].as_deref().unwrap();
        while listele > 0 {
            he = he.next.as_deref().unwrap();
            listele -= 1;
        }
        Some(he)
    }

    // ANCHOR: dict_get_some_keys
    /// dict.c: dictGetSomeKeys
    ///
    /// Samples up to `count` entries by walking consecutive buckets from a random
    /// point (jumping elsewhere after a run of empty ones), for at most `count*10`
    /// steps. Cheap and only roughly uniform: good enough for eviction sampling.
    pub fn get_some_keys(&mut self, count: usize) -> Vec<&DictEntry<K, V>> {
        let positions = self.sample_positions(count);
        let this = &*self;
        positions.into_iter().map(|p| this.entry_at(p)).collect()
    }
    // ANCHOR_END: dict_get_some_keys

    /// The sampling walk of dictGetSomeKeys; returns (table, bucket, depth in chain)
    /// so callers can resolve entries after the mutable part (the rehash steps).
    fn sample_positions(&mut self, count: usize) -> Vec<(usize, usize, usize)> {
        let count = count.min(self.len());
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return out;
        }
        for _ in 0..count {
            if self.is_rehashing() {
                self.rehash_step();
            } else {
                break;
            }
        }
        let tables = if self.is_rehashing() { 2 } else { 1 };
        let mut maxsizemask = self.ht_table[0].len().saturating_sub(1);
        if tables > 1 {
            maxsizemask = maxsizemask.max(self.ht_table[1].len() - 1);
        }
        let mut i = random_ulong() as usize & maxsizemask;
        let mut emptylen = 0;
        let mut stored = 0usize;
        let mut maxsteps = count * 10;
        'outer: while stored < count && maxsteps > 0 {
            maxsteps -= 1;
            for j in 0..tables {
                if tables == 2 && j == 0 && (i as isize) < self.rehashidx {
                    // Below rehashidx table 0 is empty; if table 1 is also too small
                    // for this index, jump to rehashidx.
                    if i >= self.ht_table[1].len() {
                        i = self.rehashidx as usize;
                    } else {
                        continue;
                    }
                }
                if i >= self.ht_table[j].len() {
                    continue;
                }
                let mut he = self.ht_table[j][i].as_deref();
                if he.is_none() {
                    emptylen += 1;
                    if emptylen >= 5 && emptylen > count {
                        i = random_ulong() as usize & maxsizemask;
                        emptylen = 0;
                    }
                } else {
                    emptylen = 0;
                    let mut depth = 0;
                    while let Some(e) = he {
                        // Reservoir sampling, so the tail of a long chain has a chance.
                        if stored < count {
                            out.push((j, i, depth));
                        } else {
                            let r = random_ulong() as usize % (stored + 1);
                            if r < count {
                                out[r] = (j, i, depth);
                            }
                        }
                        he = e.next.as_deref();
                        stored += 1;
                        depth += 1;
                    }
                    if stored >= count {
                        break 'outer;
                    }
                }
            }
            i = (i + 1) & maxsizemask;
        }
        out
    }

    fn entry_at(&self, (table, idx, depth): (usize, usize, usize)) -> &DictEntry<K, V> {
        let mut e = self.ht_table[table][idx]
            .as_deref()
            .expect("sampled bucket");
        for _ in 0..depth {
            e = e.next.as_deref().expect("sampled chain");
        }
        e
    }

    /// dict.c: dictGetFairRandomKey
    ///
    /// One pick out of a small sample: fairer than `get_random_key`, whose bucket-then-
    /// chain choice favours keys alone in their bucket.
    pub fn get_fair_random_key(&mut self) -> Option<&DictEntry<K, V>> {
        let positions = self.sample_positions(GETFAIR_NUM_ENTRIES);
        if positions.is_empty() {
            return self.get_random_key();
        }
        let pick = positions[random_ulong() as usize % positions.len()];
        Some(self.entry_at(pick))
    }

    /// The entries of one bucket (the active expire cycle walks buckets directly).
    pub fn bucket(&self, table: usize, idx: usize) -> impl Iterator<Item = &DictEntry<K, V>> {
        let mut he = self.ht_table[table].get(idx).and_then(|b| b.as_deref());
        std::iter::from_fn(move || {
            let e = he?;
            he = e.next.as_deref();
            Some(e)
        })
    }

    /// dict.c: dictNext with an unsafe iterator: every entry, table 0 then table 1.
    /// `&self` guarantees what Redis's fingerprint only checks: no change meanwhile.
    pub fn iter(&self) -> impl Iterator<Item = &DictEntry<K, V>> {
        self.ht_table.iter().flat_map(|t| t.iter()).flat_map(|b| {
            let mut he = b.as_deref();
            std::iter::from_fn(move || {
                let e = he?;
                he = e.next.as_deref();
                Some(e)
            })
        })
    }

    /// dict.c: _dictGetStatsHt and dictGetStats (the DEBUG HTSTATS text)
    pub fn get_stats(&self) -> String {
        let mut out = self.get_stats_ht(0);
        if self.is_rehashing() {
            out.push_str(&self.get_stats_ht(1));
        }
        out
    }

    fn get_stats_ht(&self, htidx: usize) -> String {
        let label = if htidx == 0 {
            "main hash table"
        } else {
            "rehashing target"
        };
        if self.ht_used[htidx] == 0 {
            return format!(
                "Hash table {htidx} stats ({label}):\nNo stats available for empty dictionaries\n"
            );
        }
        let t = &self.ht_table[htidx];
        let mut clvector = [0usize; DICT_STATS_VECTLEN];
        let (mut slots, mut maxchainlen, mut totchainlen) = (0usize, 0usize, 0usize);
        for b in t {
            let mut chainlen = 0;
            let mut he = b.as_deref();
            while let Some(e) = he {
                chainlen += 1;
                he = e.next.as_deref();
            }
            if chainlen == 0 {
                clvector[0] += 1;
                continue;
            }
            slots += 1;
            clvector[chainlen.min(DICT_STATS_VECTLEN - 1)] += 1;
            maxchainlen = maxchainlen.max(chainlen);
            totchainlen += chainlen;
        }
        let mut out = format!(
            "Hash table {htidx} stats ({label}):\n table size: {}\n number of elements: {}\n different slots: {}\n max chain length: {}\n avg chain length (counted): {:.2}\n avg chain length (computed): {:.2}\n Chain length distribution:\n",
            t.len(),
            self.ht_used[htidx],
            slots,
            maxchainlen,
            totchainlen as f32 / slots as f32,
            self.ht_used[htidx] as f32 / slots as f32
        );
        for (i, n) in clvector.iter().enumerate().take(DICT_STATS_VECTLEN - 1) {
            if *n == 0 {
                continue;
            }
            out.push_str(&format!(
                "   {}: {} ({:.2}%)\n",
                i,
                n,
                (*n as f32 / t.len() as f32) * 100.0
            ));
        }
        out
    }

    /// The bytes the table itself takes (bucket arrays and entries), for MEMORY USAGE
    /// and MEMORY STATS style accounting.
    pub fn table_bytes(&self) -> usize {
        self.slots() * std::mem::size_of::<Bucket<K, V>>()
            + self.len() * std::mem::size_of::<DictEntry<K, V>>()
    }
}

/// dict.c: dictGetSafeIterator / dictNext / dictReleaseIterator
///
/// A cursor that does not borrow the dict between steps, so its user may delete the
/// entry just returned, or add entries, while iterating. Rehashing is paused from
/// the first step to `release`, as in Redis, so entries do not move between tables
/// under the cursor. Each step returns a key (cloned); the value is looked up by it.
pub struct SafeIter<K> {
    table: usize,
    index: usize,
    started: bool,
    pending: Vec<K>,
}

impl<K: DictKey + Clone> SafeIter<K> {
    pub fn new() -> Self {
        SafeIter {
            table: 0,
            index: 0,
            started: false,
            pending: Vec::new(),
        }
    }

    /// dict.c: dictNext
    pub fn next<V>(&mut self, d: &mut Dict<K, V>) -> Option<K> {
        if !self.started {
            self.started = true;
            d.pause_rehashing();
        }
        loop {
            if let Some(k) = self.pending.pop() {
                return Some(k);
            }
            if self.index >= d.ht_table[self.table].len() {
                if self.table == 0 && d.is_rehashing() {
                    self.table = 1;
                    self.index = 0;
                    continue;
                }
                return None;
            }
            // Take the whole bucket's keys now: deleting one of them later cannot
            // disturb the walk.
            let before = self.pending.len();
            self.pending
                .extend(d.bucket(self.table, self.index).map(|e| e.key.key_dup()));
            self.pending[before..].reverse();
            self.index += 1;
        }
    }

    /// dict.c: dictReleaseIterator
    pub fn release<V>(self, d: &mut Dict<K, V>) {
        if self.started {
            d.resume_rehashing();
        }
    }
}

impl<K: DictKey + Clone> Default for SafeIter<K> {
    fn default() -> Self {
        SafeIter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: usize) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn add_find_delete_across_rehash() {
        let mut d: Dict<Vec<u8>, usize> = Dict::new();
        for i in 0..1000 {
            assert!(d.add(k(i), i).is_ok());
            assert!(d.add(k(i), i).is_err());
        }
        assert_eq!(d.len(), 1000);
        for i in 0..1000 {
            assert_eq!(d.fetch_value(&k(i)).copied(), Some(i));
        }
        for i in (0..1000).step_by(2) {
            assert_eq!(d.delete(&k(i)).map(|p| p.1), Some(i));
        }
        assert_eq!(d.len(), 500);
        assert!(d.get(&k(0)).is_none());
        assert!(d.get(&k(1)).is_some());
    }

    #[test]
    fn sizes_are_powers_of_two_and_grow_at_one_to_one() {
        let mut d: Dict<Vec<u8>, ()> = Dict::new();
        d.add(k(0), ()).ok();
        assert_eq!(d.slots(), 4);
        for i in 1..4 {
            d.add(k(i), ()).ok();
        }
        assert_eq!(d.slots(), 4);
        d.add(k(4), ()).ok();
        // 4 used == 4 slots: the fifth insert starts a rehash into 8 buckets.
        assert!(d.is_rehashing() || d.slots() == 8);
        while d.rehash(100) {}
        assert_eq!(d.slots(), 8);
    }

    #[test]
    fn resize_shrinks_and_rehashes_incrementally() {
        let mut d: Dict<Vec<u8>, ()> = Dict::new();
        for i in 0..4096 {
            d.add(k(i), ()).ok();
        }
        while d.rehash(100) {}
        for i in 10..4096 {
            d.delete(&k(i));
        }
        assert!(d.resize());
        assert!(d.is_rehashing());
        // Lookups keep working mid-rehash.
        for i in 0..10 {
            assert!(d.find(&k(i)).is_some());
        }
        while d.rehash(1) {}
        assert_eq!(d.slots(), 16);
        assert_eq!(d.len(), 10);
    }

    #[test]
    fn safe_iterator_allows_deleting_while_iterating() {
        let mut d: Dict<Vec<u8>, usize> = Dict::new();
        for i in 0..300 {
            d.add(k(i), i).ok();
        }
        d.expand(2048);
        assert!(d.is_rehashing());
        let mut it = SafeIter::new();
        let mut seen = 0;
        while let Some(key) = it.next(&mut d) {
            seen += 1;
            d.delete(&key);
        }
        it.release(&mut d);
        assert_eq!(seen, 300);
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn random_and_some_keys_sample_existing_entries() {
        let mut d: Dict<Vec<u8>, usize> = Dict::new();
        assert!(d.get_random_key().is_none());
        for i in 0..100 {
            d.add(k(i), i).ok();
        }
        d.expand(1024);
        for _ in 0..50 {
            let e = d.get_random_key().unwrap();
            assert!(e.val < 100);
        }
        let sample = d.get_some_keys(10);
        assert!(!sample.is_empty() && sample.len() <= 10);
        assert!(d.get_fair_random_key().is_some());
    }
}
