//! Port of db.c: the databases, key lookup with lazy expiry and access-time updates,
//! the low-level keyspace API (dbAdd, dbOverwrite, setKey, dbDelete) and the
//! type-agnostic keyspace commands.

use bytes::Bytes;

use crate::dict::Dict;
use crate::networking::{Client, CLIENT_CLOSE_ASAP};
use crate::notify::{
    notify_keyspace_event, NOTIFY_EXPIRED, NOTIFY_GENERIC, NOTIFY_KEY_MISS, NOTIFY_NEW,
};
use crate::object::{self, RObj};
use crate::resp::{add_reply_error, shared};
use crate::server::{also_propagate, Server};
use crate::util::stringmatchlen;

// ANCHOR: db
/// One database (server.h: redisDb).
pub struct Db {
    /// Every key and its value. A key is a `Box<[u8]>` (16 bytes, vs 32 for a
    /// `Bytes`): the entry is paid once per key, so its size is most of the
    /// keyspace's overhead.
    pub dict: Dict<Box<[u8]>, RObj>,
    /// The keys that have a TTL, with their absolute expiry time in milliseconds.
    /// Unlike Redis, which shares one sds between its two dicts, this table has
    /// its own copy of each key's bytes.
    pub expires: Dict<Bytes, i64>,
    pub id: usize,
    /// The running estimate of the average TTL that the active expire cycle keeps
    /// (server.h: redisDb.avg_ttl); 0 until that cycle has sampled this database.
    pub avg_ttl: i64,
    /// Where the active expire cycle resumes in `expires` (server.h: expires_cursor).
    pub expires_cursor: u64,
    /// Key -> the clients WATCHing it in this database (server.h: watched_keys).
    pub watched_keys: std::collections::HashMap<Bytes, Vec<crate::multi::WatchedKey>>,
}
// ANCHOR_END: db

/// Flags for `set_key` (db.c: SETKEY_*).
pub const SETKEY_KEEPTTL: u32 = 1;
pub const SETKEY_NO_SIGNAL: u32 = 2;
pub const SETKEY_ALREADY_EXIST: u32 = 4;
pub const SETKEY_DOESNT_EXIST: u32 = 8;

/// Flags for `lookup_key` (server.h: LOOKUP_*).
pub const LOOKUP_NONE: u32 = 0;
pub const LOOKUP_NOTOUCH: u32 = 1 << 0;
pub const LOOKUP_NONOTIFY: u32 = 1 << 1;
pub const LOOKUP_NOSTATS: u32 = 1 << 2;
pub const LOOKUP_WRITE: u32 = 1 << 3;
pub const LOOKUP_NOEXPIRE: u32 = 1 << 4;

/// server.h: HASHTABLE_MIN_FILL (a table under 10% full is shrunk by the cron)
pub const HASHTABLE_MIN_FILL: usize = 10;

impl Db {
    pub fn new(id: usize) -> Db {
        Db {
            dict: Dict::new(),
            expires: Dict::new(),
            id,
            avg_ttl: 0,
            expires_cursor: 0,
            watched_keys: std::collections::HashMap::new(),
        }
    }

    /// server.h: dictSize(db->dict)
    pub fn size(&self) -> usize {
        self.dict.len()
    }

    pub fn expires_size(&self) -> usize {
        self.expires.len()
    }

    /// The average TTL INFO keyspace prints: the estimate the active expire cycle
    /// keeps, never an exact figure.
    pub fn avg_ttl(&self, _now_ms: i64) -> i64 {
        self.avg_ttl
    }

    /// db.c: getExpire (None for a key without TTL)
    #[inline]
    pub fn get_expire(&mut self, key: &[u8]) -> Option<i64> {
        if self.expires.is_empty() {
            return None;
        }
        self.expires.fetch_value(key).copied()
    }

    /// db.c: keyIsExpired, at the command's cached time.
    #[inline]
    pub fn key_is_expired(&mut self, key: &[u8], now_ms: i64) -> bool {
        matches!(self.get_expire(key), Some(when) if now_ms > when)
    }

    /// db.c: dbGenericDelete (dbSyncDelete): the key, its value and its TTL.
    pub fn db_delete(&mut self, key: &[u8]) -> bool {
        match self.dict.delete(key) {
            Some(_) => {
                if !self.expires.is_empty() {
                    self.expires.delete(key);
                }
                true
            }
            None => false,
        }
    }

    /// db.c: setExpire. The key must exist; the expires table gets its own copy of
    /// the key's bytes.
    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) {
        if self.dict.find(key).is_none() {
            panic!("setExpire on a key that does not exist");
        }
        match self.expires.find(key) {
            Some(e) => e.val = when_ms,
            None => {
                let _ = self.expires.add(Bytes::copy_from_slice(key), when_ms);
            }
        }
    }

    /// db.c: removeExpire
    pub fn remove_expire(&mut self, key: &[u8]) -> bool {
        self.expires.delete(key).is_some()
    }

    /// db.c: emptyDbStructure for one database: returns how many keys went.
    pub fn empty(&mut self) -> usize {
        let n = self.dict.len();
        self.dict.empty();
        self.expires.empty();
        self.avg_ttl = 0;
        self.expires_cursor = 0;
        n
    }
}

/// server.c: htNeedsResize
pub fn ht_needs_resize<K: crate::dict::DictKey, V>(d: &Dict<K, V>) -> bool {
    let size = d.slots();
    let used = d.len();
    size > crate::dict::DICT_HT_INITIAL_SIZE && used * 100 / size < HASHTABLE_MIN_FILL
}

/// server.c: tryResizeHashTables (shrink a mostly empty table, from the cron)
pub fn try_resize_hash_tables(db: &mut Db) {
    if ht_needs_resize(&db.dict) {
        db.dict.resize();
    }
    if ht_needs_resize(&db.expires) {
        db.expires.resize();
    }
}

/// server.c: incrementallyRehash
///
/// One millisecond of rehashing for the main table, or else for the expires table.
/// Returns true if it did some work.
pub fn incrementally_rehash(db: &mut Db) -> bool {
    if db.dict.is_rehashing() {
        db.dict.rehash_milliseconds(1);
        return true;
    }
    if db.expires.is_rehashing() {
        db.expires.rehash_milliseconds(1);
        return true;
    }
    false
}

// ANCHOR: expire_if_needed
/// db.c: expireIfNeeded
///
/// Lazy expiry: a key past its time is deleted the moment a command touches it,
/// and the deletion is propagated as a DEL so replicas and the AOF agree. Returns
/// true if the key is (now) gone. Keys are not deleted while clients are paused,
/// so the dataset stays still, but they already read as missing.
pub fn expire_if_needed(s: &mut Server, dbid: usize, key: &[u8]) -> bool {
    let now = s.mstime;
    // Nothing expires while loading: the file replays what happened back then.
    if s.loading || !s.db[dbid].key_is_expired(key, now) {
        return false;
    }
    if s.client_pause_type != crate::server::PauseType::Off {
        return true;
    }
    delete_expired_key_and_propagate(s, dbid, key);
    true
}
// ANCHOR_END: expire_if_needed

/// db.c: deleteExpiredKeyAndPropagate
pub fn delete_expired_key_and_propagate(s: &mut Server, dbid: usize, key: &[u8]) {
    s.db[dbid].db_delete(key);
    notify_keyspace_event(s, NOTIFY_EXPIRED, "expired", key, dbid);
    signal_modified_key(s, dbid, key);
    propagate_deletion(s, dbid, key);
    s.stat_expiredkeys += 1;
}

/// db.c: propagateDeletion (DEL, since lazyfree-lazy-expire is not offered)
pub fn propagate_deletion(s: &mut Server, dbid: usize, key: &[u8]) {
    also_propagate(
        s,
        dbid,
        vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
    );
}

// ANCHOR: lookup_key
/// db.c: lookupKey
///
/// Expires the key if its time has come, then records the access: the LRU clock,
/// or the logarithmic LFU counter, in the value's 24-bit `lru` field; hits and
/// misses count for reads only.
pub fn lookup_key<'a>(
    s: &'a mut Server,
    dbid: usize,
    key: &[u8],
    flags: u32,
) -> Option<&'a mut RObj> {
    // Checking the TTL first saves a second probe of the main table: a key that
    // is not there has no TTL either.
    if !s.db[dbid].expires.is_empty() && flags & LOOKUP_NOEXPIRE == 0 {
        expire_if_needed(s, dbid, key);
    } else if flags & LOOKUP_NOEXPIRE != 0 && !s.loading && s.db[dbid].key_is_expired(key, s.mstime)
    {
        return None;
    }
    let touch = flags & LOOKUP_NOTOUCH == 0;
    let count = flags & (LOOKUP_NOSTATS | LOOKUP_WRITE) == 0;
    let lfu = s.maxmemory_policy_is_lfu();
    let lruclock = s.lru_clock();
    let (minutes, log_factor, decay) = if lfu {
        (
            crate::evict::lfu_get_time_in_minutes(s),
            s.config.lfu_log_factor,
            s.config.lfu_decay_time,
        )
    } else {
        (0, 0, 0)
    };
    // A read that misses raises "keymiss" when that class is on (checked first, so
    // the event can be published while nothing is borrowed).
    if s.config.notify_keyspace_events & NOTIFY_KEY_MISS != 0
        && flags & (LOOKUP_NONOTIFY | LOOKUP_WRITE) == 0
        && s.db[dbid].dict.find(key).is_none()
    {
        notify_keyspace_event(s, NOTIFY_KEY_MISS, "keymiss", key, dbid);
        if count {
            s.stat_keyspace_misses += 1;
        }
        return None;
    }
    match s.db[dbid].dict.find(key) {
        Some(e) => {
            if touch {
                if lfu {
                    e.val.lru = crate::evict::update_lfu(e.val.lru, minutes, log_factor, decay);
                } else {
                    e.val.lru = lruclock;
                }
            }
            if count {
                s.stat_keyspace_hits += 1;
            }
            Some(&mut e.val)
        }
        None => {
            if count {
                s.stat_keyspace_misses += 1;
            }
            None
        }
    }
}
// ANCHOR_END: lookup_key

/// db.c: lookupKeyRead
#[inline]
pub fn lookup_key_read<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> Option<&'a mut RObj> {
    lookup_key(s, dbid, key, LOOKUP_NONE)
}

/// db.c: lookupKeyReadWithFlags
#[inline]
pub fn lookup_key_read_with_flags<'a>(
    s: &'a mut Server,
    dbid: usize,
    key: &[u8],
    flags: u32,
) -> Option<&'a mut RObj> {
    lookup_key(s, dbid, key, flags)
}

/// db.c: lookupKeyWrite
#[inline]
pub fn lookup_key_write<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> Option<&'a mut RObj> {
    lookup_key(s, dbid, key, LOOKUP_WRITE)
}

/// db.c: lookupKeyWriteWithFlags
#[inline]
pub fn lookup_key_write_with_flags<'a>(
    s: &'a mut Server,
    dbid: usize,
    key: &[u8],
    flags: u32,
) -> Option<&'a mut RObj> {
    lookup_key(s, dbid, key, flags | LOOKUP_WRITE)
}

/// db.c: dbAdd. The key must not exist.
pub fn db_add(s: &mut Server, dbid: usize, key: Bytes, val: RObj) {
    let notify = s.config.notify_keyspace_events & NOTIFY_NEW != 0;
    let name = if notify { Some(key.clone()) } else { None };
    let btype = crate::blocked::get_blocked_type_by_value(&val.ptr);
    // The keyspace owns a copy of the name (Redis: sdsdup): the argument is a
    // view of the client's query buffer, which would stay alive as long as the key.
    let owned: Box<[u8]> = Box::from(&key[..]);
    if s.db[dbid].dict.add(owned, val).is_err() {
        panic!("dbAdd: key already exists");
    }
    // A new list (or sorted set) may be what a blocked client waits for.
    crate::blocked::signal_key_as_ready(s, dbid, &key, btype);
    if let Some(name) = name {
        notify_keyspace_event(s, NOTIFY_NEW, "new", &name, dbid);
    }
}

// ANCHOR: db_overwrite
/// db.c: dbOverwrite (dbSetValue): a new value for an existing key. The TTL stays
/// (set_key decides about it), and so does the LFU counter: a key rewritten often
/// is a key used often.
pub fn db_overwrite(s: &mut Server, dbid: usize, key: &[u8], mut val: RObj) {
    let lfu = s.maxmemory_policy_is_lfu();
    let e = s.db[dbid]
        .dict
        .find(key)
        .expect("dbOverwrite: key does not exist");
    if lfu {
        val.lru = e.val.lru;
    }
    e.val = val;
}
// ANCHOR_END: db_overwrite

// ANCHOR: set_key
/// db.c: setKey
///
/// Adds or overwrites; drops an old TTL unless KEEPTTL was asked for. The caller
/// may say whether the key exists, to save a lookup.
pub fn set_key(s: &mut Server, dbid: usize, key: &Bytes, val: RObj, flags: u32) {
    let keyfound = if flags & SETKEY_ALREADY_EXIST != 0 {
        true
    } else if flags & SETKEY_DOESNT_EXIST != 0 {
        false
    } else {
        lookup_key_write(s, dbid, key).is_some()
    };
    if keyfound {
        db_overwrite(s, dbid, key, val);
    } else {
        db_add(s, dbid, key.clone(), val);
    }
    if flags & SETKEY_KEEPTTL == 0 && !s.db[dbid].expires.is_empty() {
        s.db[dbid].remove_expire(key);
    }
    if flags & SETKEY_NO_SIGNAL == 0 {
        signal_modified_key(s, dbid, key);
    }
}
// ANCHOR_END: set_key

/// db.c: dbDelete
pub fn db_delete(s: &mut Server, dbid: usize, key: &[u8]) -> bool {
    s.db[dbid].db_delete(key)
}

// ANCHOR: signal_modified_key
/// db.c: signalModifiedKey
///
/// Every command that changes a key calls this, so a WATCH on it cannot miss the
/// change (client tracking will hook in here too).
pub fn signal_modified_key(s: &mut Server, dbid: usize, key: &[u8]) {
    crate::multi::touch_watched_key(s, dbid, key);
    crate::tracking::tracking_invalidate_key(s, key, true);
}
// ANCHOR_END: signal_modified_key

/// db.c: signalFlushedDb (-1 for every database)
///
/// Runs while the keys are still there: a watched key that exists is about to change.
pub fn signal_flushed_db(s: &mut Server, dbnum: i64) {
    for j in 0..s.db.len() {
        if dbnum == -1 || j as i64 == dbnum {
            crate::multi::touch_all_watched_keys_in_db(s, j, None);
        }
    }
    crate::tracking::tracking_invalidate_keys_on_flush(s);
}

/// db.c: emptyData (-1 for every database); returns how many keys were removed.
pub fn empty_data(s: &mut Server, dbnum: i64) -> usize {
    signal_flushed_db(s, dbnum);
    let mut removed = 0;
    for db in s.db.iter_mut() {
        if dbnum == -1 || db.id as i64 == dbnum {
            removed += db.empty();
        }
    }
    removed
}

/// db.c: selectDb
pub fn select_db(s: &Server, c: &mut Client, id: i64) -> bool {
    if id < 0 || id as usize >= s.db.len() {
        return false;
    }
    c.db = id as usize;
    true
}

/// db.c: dbRandomKey
///
/// A fair random key; one found expired is deleted and another drawn.
pub fn db_random_key(s: &mut Server, dbid: usize) -> Option<Bytes> {
    loop {
        let key = Bytes::copy_from_slice(&s.db[dbid].dict.get_fair_random_key()?.key);
        if !s.db[dbid].expires.is_empty() && expire_if_needed(s, dbid, &key) {
            continue;
        }
        return Some(key);
    }
}

/// db.c: getFlushCommandFlags (SYNC and ASYNC both free at once here: lazy freeing
/// has no thread to hand the work to yet)
fn get_flush_command_flags(s: &mut Server, c: &mut Client) -> bool {
    match c.argv.len() {
        1 => true,
        2 if c.argv[1].eq_ignore_ascii_case(b"sync")
            || c.argv[1].eq_ignore_ascii_case(b"async") =>
        {
            true
        }
        _ => {
            add_reply_error(s, c, shared::SYNTAXERR);
            false
        }
    }
}

/// db.c: flushdbCommand
pub fn flushdb_command(s: &mut Server, c: &mut Client) {
    if !get_flush_command_flags(s, c) {
        return;
    }
    let removed = empty_data(s, c.db as i64);
    s.dirty += removed as u64;
    // Propagated even when nothing was removed (forceCommandPropagation).
    s.force_propagation = true;
    c.add_reply(shared::OK);
}

/// db.c: lastsaveCommand
pub fn lastsave_command(s: &mut Server, c: &mut Client) {
    let lastsave = s.lastsave;
    c.add_reply_long_long(lastsave);
}

/// db.c: flushallCommand
pub fn flushall_command(s: &mut Server, c: &mut Client) {
    if !get_flush_command_flags(s, c) {
        return;
    }
    flush_all_data_and_reset_rdb(s);
    s.force_propagation = true;
    c.add_reply(shared::OK);
}

/// db.c: flushAllDataAndResetRDB
///
/// With save points configured, the empty dataset is saved at once: otherwise a
/// restart would bring back what FLUSHALL removed. A running BGSAVE is stopped.
pub fn flush_all_data_and_reset_rdb(s: &mut Server) {
    let removed = empty_data(s, -1);
    s.dirty += removed as u64;
    if s.child_type == crate::server::ChildType::Rdb {
        crate::rdb::kill_rdb_child(s);
    }
    if !crate::rdb::save_params(&s.config.save).is_empty() {
        let filename = s.config.dbfilename.clone();
        let _ = crate::rdb::rdb_save(s, &filename);
    }
}

/// db.c: selectCommand
pub fn select_command(s: &mut Server, c: &mut Client) {
    let Some(id) = get_int_from_object_or_reply(s, c, 1) else {
        return;
    };
    if !select_db(s, c, id) {
        add_reply_error(s, c, "DB index is out of range");
        return;
    }
    c.add_reply(shared::OK);
}

/// db.c: dbsizeCommand
pub fn dbsize_command(s: &mut Server, c: &mut Client) {
    let n = s.db[c.db].size();
    c.add_reply_long_long(n as i64);
}

/// db.c: delGenericCommand (UNLINK frees at once as well: no lazy-free thread yet)
fn del_generic_command(s: &mut Server, c: &mut Client) {
    let mut numdel = 0;
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        expire_if_needed(s, c.db, &key);
        if s.db[c.db].db_delete(&key) {
            signal_modified_key(s, c.db, &key);
            notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
            s.dirty += 1;
            numdel += 1;
        }
    }
    c.add_reply_long_long(numdel);
}

/// db.c: delCommand
pub fn del_command(s: &mut Server, c: &mut Client) {
    del_generic_command(s, c);
}

/// db.c: unlinkCommand
pub fn unlink_command(s: &mut Server, c: &mut Client) {
    del_generic_command(s, c);
}

/// db.c: existsCommand
pub fn exists_command(s: &mut Server, c: &mut Client) {
    let mut count = 0;
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        if lookup_key_read_with_flags(s, c.db, &key, LOOKUP_NOTOUCH).is_some() {
            count += 1;
        }
    }
    c.add_reply_long_long(count);
}

/// db.c: typeCommand
pub fn type_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let t =
        get_object_type_name(lookup_key_read_with_flags(s, c.db, &key, LOOKUP_NOTOUCH).as_deref());
    c.add_reply_status(t);
}

/// db.c: getObjectTypeName
pub fn get_object_type_name(o: Option<&RObj>) -> &'static str {
    match o {
        None => "none",
        Some(o) => o.type_name(),
    }
}

/// db.c: keysCommand
///
/// Walks the whole table; keys that are logically expired are skipped but, as in
/// Redis, not deleted here.
pub fn keys_command(s: &mut Server, c: &mut Client) {
    let pattern = c.argv[1].clone();
    let allkeys = pattern.as_ref() == b"*";
    let now = s.mstime;
    let db = &s.db[c.db];
    let mut out: Vec<Bytes> = Vec::new();
    for e in db.dict.iter() {
        if allkeys || stringmatchlen(&pattern, &e.key, false) {
            let expired =
                !db.expires.is_empty() && matches!(db.expires.get(&e.key), Some(x) if now > x.val);
            if !expired {
                out.push(Bytes::copy_from_slice(&e.key));
            }
        }
        if c.flags & CLIENT_CLOSE_ASAP != 0 {
            break;
        }
    }
    c.add_reply_array_len(out.len());
    for k in &out {
        c.add_reply_bulk(k);
    }
}

/// db.c: parseScanCursorOrReply
///
/// Parsed the way strtoul does it: an optional sign (a negative number wraps), base
/// 10, the whole argument; leading blanks and overflow are refused.
pub fn parse_scan_cursor_or_reply(s: &mut Server, c: &mut Client, idx: usize) -> Option<u64> {
    let arg = c.argv[idx].clone();
    let bad = |s: &mut Server, c: &mut Client| {
        add_reply_error(s, c, "invalid cursor");
        None
    };
    if arg.is_empty() {
        return Some(0);
    }
    if arg[0].is_ascii_whitespace() || arg[0] == 0x0b || arg[0] == 0x0c {
        return bad(s, c);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, &arg[..]),
    };
    if digits.is_empty() || !digits.iter().all(|b| b.is_ascii_digit()) {
        return bad(s, c);
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
        {
            Some(v) => v,
            None => return bad(s, c),
        };
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

// ANCHOR: scan_generic_command
/// db.c: scanGenericCommand (for the keyspace)
///
/// Calls dictScan until COUNT keys are gathered or COUNT*10 buckets were visited,
/// then filters by MATCH, TYPE and expiry. Filtering after the scan keeps the
/// cursor's promise simple: what the table returned is what was there.
pub fn scan_generic_command(s: &mut Server, c: &mut Client, mut cursor: u64) {
    let mut count: i64 = 10;
    let mut pat: Option<Bytes> = None;
    let mut typename: Option<Bytes> = None;
    let mut i = 2;
    while i < c.argv.len() {
        let j = c.argv.len() - i;
        if c.argv[i].eq_ignore_ascii_case(b"count") && j >= 2 {
            let Some(n) = crate::object::get_long_long_from_object_or_reply(s, c, i + 1) else {
                return;
            };
            if n < 1 {
                add_reply_error(s, c, shared::SYNTAXERR);
                return;
            }
            count = n;
            i += 2;
        } else if c.argv[i].eq_ignore_ascii_case(b"match") && j >= 2 {
            let p = c.argv[i + 1].clone();
            // "*" matches everything: no pattern at all.
            pat = if p.as_ref() == b"*" { None } else { Some(p) };
            i += 2;
        } else if c.argv[i].eq_ignore_ascii_case(b"type") && j >= 2 {
            typename = Some(c.argv[i + 1].clone());
            i += 2;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
    }
    let mut keys: Vec<Bytes> = Vec::new();
    let mut maxiterations = count.saturating_mul(10);
    let d = &s.db[c.db].dict;
    loop {
        cursor = d.scan(cursor, |k, _| keys.push(Bytes::copy_from_slice(k)));
        if cursor == 0 {
            break;
        }
        let more = maxiterations > 0;
        maxiterations -= 1;
        if !more || keys.len() as i64 >= count {
            break;
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(p) = &pat {
            if !stringmatchlen(p, &k, false) {
                continue;
            }
        }
        if let Some(t) = &typename {
            let o = lookup_key_read_with_flags(s, c.db, &k, LOOKUP_NOTOUCH);
            let name = get_object_type_name(o.as_deref());
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
        }
        if expire_if_needed(s, c.db, &k) {
            continue;
        }
        out.push(k);
    }
    c.add_reply_array_len(2);
    // Redis passes the unsigned cursor to a long long: print it the same way.
    c.add_reply_bulk_long_long(cursor as i64);
    c.add_reply_array_len(out.len());
    for k in &out {
        c.add_reply_bulk(k);
    }
}
// ANCHOR_END: scan_generic_command

/// The options of HSCAN, SSCAN and ZSCAN (db.c: scanGenericCommand's step 1 for a value).
pub struct ScanObjectOptions {
    pub count: i64,
    /// None when there is no pattern, or it is exactly "*".
    pub pat: Option<Bytes>,
}

/// db.c: scanGenericCommand, step 1, for a collection value (options after the cursor).
///
/// TYPE only applies to the keyspace: here it is a syntax error, as in Redis.
pub fn parse_scan_object_options(s: &mut Server, c: &mut Client) -> Option<ScanObjectOptions> {
    let mut count: i64 = 10;
    let mut pat: Option<Bytes> = None;
    let mut i = 3;
    while i < c.argv.len() {
        let j = c.argv.len() - i;
        if c.argv[i].eq_ignore_ascii_case(b"count") && j >= 2 {
            let n = crate::object::get_long_long_from_object_or_reply(s, c, i + 1)?;
            if n < 1 {
                add_reply_error(s, c, shared::SYNTAXERR);
                return None;
            }
            count = n;
            i += 2;
        } else if c.argv[i].eq_ignore_ascii_case(b"match") && j >= 2 {
            let p = c.argv[i + 1].clone();
            pat = if p.as_ref() == b"*" { None } else { Some(p) };
            i += 2;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return None;
        }
    }
    Some(ScanObjectOptions { count, pat })
}

/// db.c: scanGenericCommand, steps 3 and 4, for a collection value: filters by the
/// pattern (matching a field drops its value too when `pairs`) and replies.
pub fn reply_scan_object(
    c: &mut Client,
    cursor: u64,
    items: Vec<Bytes>,
    pat: Option<&[u8]>,
    pairs: bool,
) {
    let step = if pairs { 2 } else { 1 };
    let keep: Vec<&Bytes> = items
        .chunks(step)
        .filter(|ch| pat.is_none_or(|p| stringmatchlen(p, &ch[0], false)))
        .flatten()
        .collect();
    c.add_reply_array_len(2);
    c.add_reply_bulk_long_long(cursor as i64);
    c.add_reply_array_len(keep.len());
    for k in keep {
        c.add_reply_bulk(k);
    }
}

/// The reply to HSCAN/SSCAN/ZSCAN of a missing key (server.c: shared.emptyscan).
pub const EMPTYSCAN: &[u8] = b"*2\r\n$1\r\n0\r\n*0\r\n";

/// db.c: scanCommand
pub fn scan_command(s: &mut Server, c: &mut Client) {
    let Some(cursor) = parse_scan_cursor_or_reply(s, c, 1) else {
        return;
    };
    scan_generic_command(s, c, cursor);
}

/// db.c: randomkeyCommand
pub fn randomkey_command(s: &mut Server, c: &mut Client) {
    match db_random_key(s, c.db) {
        Some(k) => c.add_reply_bulk(&k),
        None => c.add_reply_null(),
    }
}

/// db.c: renameGenericCommand
fn rename_generic_command(s: &mut Server, c: &mut Client, nx: bool) {
    let src = c.argv[1].clone();
    let dst = c.argv[2].clone();
    let samekey = src == dst;
    if lookup_key_write(s, c.db, &src).is_none() {
        add_reply_error(s, c, shared::NOKEYERR);
        return;
    }
    if samekey {
        c.add_reply(if nx { shared::CZERO } else { shared::OK });
        return;
    }
    let expire = s.db[c.db].get_expire(&src);
    if lookup_key_write(s, c.db, &dst).is_some() {
        if nx {
            c.add_reply(shared::CZERO);
            return;
        }
        db_delete(s, c.db, &dst);
    }
    let (_, val) = s.db[c.db].dict.delete(&src).expect("source exists");
    if expire.is_some() {
        s.db[c.db].expires.delete(&src);
    }
    db_add(s, c.db, object::create_string_object(&dst), val);
    if let Some(when) = expire {
        s.db[c.db].set_expire(&dst, when);
    }
    signal_modified_key(s, c.db, &src);
    signal_modified_key(s, c.db, &dst);
    notify_keyspace_event(s, NOTIFY_GENERIC, "rename_from", &src, c.db);
    notify_keyspace_event(s, NOTIFY_GENERIC, "rename_to", &dst, c.db);
    s.dirty += 1;
    c.add_reply(if nx { shared::CONE } else { shared::OK });
}

/// db.c: renameCommand
pub fn rename_command(s: &mut Server, c: &mut Client) {
    rename_generic_command(s, c, false);
}

/// db.c: renamenxCommand
pub fn renamenx_command(s: &mut Server, c: &mut Client) {
    rename_generic_command(s, c, true);
}

/// db.c: moveCommand
pub fn move_command(s: &mut Server, c: &mut Client) {
    let src = c.db;
    let Some(dbid) = get_int_from_object_or_reply(s, c, 2) else {
        return;
    };
    if dbid < 0 || dbid as usize >= s.db.len() {
        add_reply_error(s, c, "DB index is out of range");
        return;
    }
    let dst = dbid as usize;
    if src == dst {
        add_reply_error(s, c, shared::SAMEOBJECTERR);
        return;
    }
    let key = c.argv[1].clone();
    if lookup_key_write(s, src, &key).is_none() {
        c.add_reply(shared::CZERO);
        return;
    }
    let expire = s.db[src].get_expire(&key);
    if lookup_key_write(s, dst, &key).is_some() {
        c.add_reply(shared::CZERO);
        return;
    }
    let (_, val) = s.db[src].dict.delete(&key).expect("source exists");
    if expire.is_some() {
        s.db[src].expires.delete(&key);
    }
    db_add(s, dst, key.clone(), val);
    if let Some(when) = expire {
        s.db[dst].set_expire(&key, when);
    }
    signal_modified_key(s, src, &key);
    signal_modified_key(s, dst, &key);
    notify_keyspace_event(s, NOTIFY_GENERIC, "move_from", &key, src);
    notify_keyspace_event(s, NOTIFY_GENERIC, "move_to", &key, dst);
    s.dirty += 1;
    c.add_reply(shared::CONE);
}

/// db.c: copyCommand
pub fn copy_command(s: &mut Server, c: &mut Client) {
    let src = c.db;
    let mut dst = c.db;
    let mut replace = false;
    let mut j = 3;
    while j < c.argv.len() {
        let additional = c.argv.len() - j - 1;
        if c.argv[j].eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if c.argv[j].eq_ignore_ascii_case(b"db") && additional >= 1 {
            let Some(id) = get_int_from_object_or_reply(s, c, j + 1) else {
                return;
            };
            if id < 0 || id as usize >= s.db.len() {
                add_reply_error(s, c, "DB index is out of range");
                return;
            }
            dst = id as usize;
            j += 1;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }
    let key = c.argv[1].clone();
    let newkey = c.argv[2].clone();
    if src == dst && key == newkey {
        add_reply_error(s, c, shared::SAMEOBJECTERR);
        return;
    }
    let Some(o) = lookup_key_read(s, src, &key) else {
        c.add_reply(shared::CZERO);
        return;
    };
    let o = o.clone();
    let expire = s.db[src].get_expire(&key);
    let mut delete = false;
    if lookup_key_write(s, dst, &newkey).is_some() {
        if replace {
            delete = true;
        } else {
            c.add_reply(shared::CZERO);
            return;
        }
    }
    let newobj = object::dup_string_object(s, &o);
    if delete {
        db_delete(s, dst, &newkey);
    }
    db_add(s, dst, object::create_string_object(&newkey), newobj);
    if let Some(when) = expire {
        s.db[dst].set_expire(&newkey, when);
    }
    signal_modified_key(s, dst, &newkey);
    notify_keyspace_event(s, NOTIFY_GENERIC, "copy_to", &newkey, dst);
    s.dirty += 1;
    c.add_reply(shared::CONE);
}

/// db.c: dbSwapDatabases (the contents move; each database keeps its number)
pub fn db_swap_databases(s: &mut Server, id1: i64, id2: i64) -> bool {
    let n = s.db.len() as i64;
    if id1 < 0 || id1 >= n || id2 < 0 || id2 >= n {
        return false;
    }
    if id1 == id2 {
        return true;
    }
    let (id1, id2) = (id1 as usize, id2 as usize);
    // Clients watching a key in either database see it change.
    crate::multi::touch_all_watched_keys_in_db(s, id1, Some(id2));
    crate::multi::touch_all_watched_keys_in_db(s, id2, Some(id1));
    // Only the data moves: who watches (or waits on) a key in database N keeps
    // doing so in database N.
    let (lo, hi) = (id1.min(id2), id1.max(id2));
    let (left, right) = s.db.split_at_mut(hi);
    let (a, b) = (&mut left[lo], &mut right[0]);
    std::mem::swap(&mut a.dict, &mut b.dict);
    std::mem::swap(&mut a.expires, &mut b.expires);
    std::mem::swap(&mut a.avg_ttl, &mut b.avg_ttl);
    std::mem::swap(&mut a.expires_cursor, &mut b.expires_cursor);
    // Waiters stay in their database number, which may now hold what they wait for.
    crate::blocked::scan_database_for_ready_keys(s, id1);
    crate::blocked::scan_database_for_ready_keys(s, id2);
    true
}

/// db.c: swapdbCommand
pub fn swapdb_command(s: &mut Server, c: &mut Client) {
    let Some(id1) = get_int_from_object_or_reply_msg(s, c, 1, Some("invalid first DB index"))
    else {
        return;
    };
    let Some(id2) = get_int_from_object_or_reply_msg(s, c, 2, Some("invalid second DB index"))
    else {
        return;
    };
    if !db_swap_databases(s, id1, id2) {
        add_reply_error(s, c, "DB index is out of range");
        return;
    }
    s.dirty += 1;
    c.add_reply(shared::OK);
}

/// expire.c: touchCommand
pub fn touch_command(s: &mut Server, c: &mut Client) {
    let mut touched = 0;
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        if lookup_key_read(s, c.db, &key).is_some() {
            touched += 1;
        }
    }
    c.add_reply_long_long(touched);
}

/// object.c: getIntFromObjectOrReply (argv[idx] as a C int)
pub fn get_int_from_object_or_reply(s: &mut Server, c: &mut Client, idx: usize) -> Option<i64> {
    get_int_from_object_or_reply_msg(s, c, idx, None)
}

/// object.c: getRangeLongFromObjectOrReply with INT_MIN..INT_MAX and an optional
/// message that replaces both errors.
pub fn get_int_from_object_or_reply_msg(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    msg: Option<&str>,
) -> Option<i64> {
    let Some(v) = crate::util::string2ll(&c.argv[idx]) else {
        add_reply_error(s, c, msg.unwrap_or(shared::NOTINTEGERERR));
        return None;
    };
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        let text = format!(
            "value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        );
        add_reply_error(s, c, msg.unwrap_or(&text));
        return None;
    }
    Some(v)
}
