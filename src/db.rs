//! Port of db.c: the keyspace of each database, key lookup with lazy expiry, and the
//! keyspace commands this stage needs (SELECT DBSIZE DEL EXISTS).
//!
//! The hash table is `std::collections::HashMap` for now; the port of dict.c with
//! incremental rehashing arrives with the keyspace issue.

use std::collections::HashMap;

use bytes::Bytes;

use crate::networking::Client;
use crate::object::RObj;
use crate::resp::{add_reply_error, shared};
use crate::server::Server;

/// One database (server.h: redisDb).
#[derive(Default)]
pub struct Db {
    pub dict: HashMap<Bytes, RObj>,
    /// Absolute expiry times in milliseconds, for keys that have one.
    pub expires: HashMap<Bytes, i64>,
    /// The running estimate of the average TTL that the active expire cycle keeps
    /// (server.h: redisDb.avg_ttl); 0 until that cycle has sampled this database.
    pub avg_ttl: i64,
}

/// Flags for `set_key` (db.c: SETKEY_*).
pub const SETKEY_KEEPTTL: u32 = 1;
pub const SETKEY_ALREADY_EXIST: u32 = 4;
pub const SETKEY_DOESNT_EXIST: u32 = 8;

impl Db {
    pub fn new() -> Db {
        Db::default()
    }

    /// server.h: dictSize(db->dict)
    pub fn size(&self) -> usize {
        self.dict.len()
    }

    pub fn expires_size(&self) -> usize {
        self.expires.len()
    }

    /// The average TTL INFO keyspace prints. Redis never computes it exactly: it prints
    /// the estimate activeExpireCycle maintains, which stays 0 until the cycle has
    /// sampled keys with a TTL. (Active expiry arrives with expire.rs.)
    pub fn avg_ttl(&self, _now_ms: i64) -> i64 {
        self.avg_ttl
    }

    /// db.c: getExpire
    pub fn get_expire(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// db.c: keyIsExpired
    fn key_is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        matches!(self.get_expire(key), Some(when) if now_ms > when)
    }

    /// db.c: dbSyncDelete
    pub fn db_delete(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key);
        self.dict.remove(key).is_some()
    }

    /// db.c: setExpire
    pub fn set_expire(&mut self, key: &Bytes, when_ms: i64) {
        self.expires.insert(key.clone(), when_ms);
    }

    /// db.c: removeExpire
    pub fn remove_expire(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }
}

/// db.c: expireIfNeeded (lazy expiry: a key past its time is deleted when touched)
pub fn expire_if_needed(s: &mut Server, dbid: usize, key: &[u8]) -> bool {
    let now = s.mstime;
    if !s.db[dbid].key_is_expired(key, now) {
        return false;
    }
    s.db[dbid].db_delete(key);
    s.stat_expiredkeys += 1;
    true
}

/// db.c: lookupKeyRead (updates keyspace hit/miss statistics)
pub fn lookup_key_read<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> Option<&'a RObj> {
    expire_if_needed(s, dbid, key);
    let found = s.db[dbid].dict.contains_key(key);
    if found {
        s.stat_keyspace_hits += 1;
    } else {
        s.stat_keyspace_misses += 1;
    }
    s.db[dbid].dict.get(key)
}

/// db.c: lookupKeyWrite
pub fn lookup_key_write<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> Option<&'a mut RObj> {
    expire_if_needed(s, dbid, key);
    s.db[dbid].dict.get_mut(key)
}

// ANCHOR: set_key
/// db.c: setKey (genericSetKey)
///
/// Adds or overwrites; drops an old TTL unless KEEPTTL was asked for.
pub fn set_key(s: &mut Server, dbid: usize, key: &Bytes, val: RObj, flags: u32) {
    let db = &mut s.db[dbid];
    let keepttl = flags & SETKEY_KEEPTTL != 0;
    db.dict.insert(key.clone(), val);
    if !keepttl {
        db.remove_expire(key);
    }
    signal_modified_key(s, dbid, key);
}
// ANCHOR_END: set_key

/// db.c: signalModifiedKey (the hook WATCH and client tracking will use)
pub fn signal_modified_key(_s: &mut Server, _dbid: usize, _key: &[u8]) {}

/// db.c: selectDb
pub fn select_db(s: &Server, c: &mut Client, id: i64) -> bool {
    if id < 0 || id as usize >= s.db.len() {
        return false;
    }
    c.db = id as usize;
    true
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

/// db.c: delGenericCommand
fn del_generic_command(s: &mut Server, c: &mut Client) {
    let mut numdel = 0;
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        expire_if_needed(s, c.db, &key);
        if s.db[c.db].db_delete(&key) {
            signal_modified_key(s, c.db, &key);
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

/// db.c: existsCommand
pub fn exists_command(s: &mut Server, c: &mut Client) {
    let mut count = 0;
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        if lookup_key_read(s, c.db, &key).is_some() {
            count += 1;
        }
    }
    c.add_reply_long_long(count);
}

/// object.c: getIntFromObjectOrReply (argv[idx] as a C int)
pub fn get_int_from_object_or_reply(s: &mut Server, c: &mut Client, idx: usize) -> Option<i64> {
    let v = crate::object::get_long_long_from_object_or_reply(s, c, idx)?;
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        let msg = format!(
            "value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        );
        add_reply_error(s, c, &msg);
        return None;
    }
    Some(v)
}
