//! Port of cluster.c: DUMP and RESTORE, the parts of cluster.c that every Redis
//! server runs (Ferredis has no cluster mode).
//!
//! A DUMP payload is a value in RDB form (its type byte, then rdbSaveObject's
//! bytes), followed by the RDB version and a CRC64 of everything before it, both
//! little-endian.

use bytes::Bytes;

use crate::db;
use crate::networking::Client;
use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC};
use crate::object::{get_long_long_from_object_or_reply, RObj, LRU_CLOCK_MAX};
use crate::rdb::{self, Rio, RDB_VERSION};
use crate::resp::{add_reply_error, shared};
use crate::server::Server;

/// server.c: shared.busykeyerr
const BUSYKEYERR: &str = "-BUSYKEY Target key name already exists.";

/// cluster.c: createDumpPayload
pub fn create_dump_payload(s: &Server, o: &RObj) -> Vec<u8> {
    let mut payload = Vec::new();
    rdb::rdb_save_object_type(&mut payload, o);
    rdb::rdb_save_object(s, &mut payload, o);
    payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crate::crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

/// cluster.c: verifyDumpPayload (a known RDB version and a matching checksum)
pub fn verify_dump_payload(p: &[u8]) -> bool {
    if p.len() < 10 {
        return false;
    }
    let footer = &p[p.len() - 10..];
    let rdbver = u16::from_le_bytes([footer[0], footer[1]]);
    if rdbver > RDB_VERSION {
        return false;
    }
    let crc = crate::crc64::crc64(0, &p[..p.len() - 8]);
    crc.to_le_bytes() == footer[2..10]
}

/// cluster.c: dumpCommand
pub fn dump_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    if db::lookup_key_read(s, c.db, &key).is_none() {
        c.add_reply_null();
        return;
    }
    let o = &s.db[c.db].dict.get(&key).expect("looked up").val;
    let payload = create_dump_payload(s, o);
    c.add_reply_bulk(&payload);
}

/// object.c: objectSetLRUOrLFU (RESTORE's IDLETIME or FREQ, whichever the policy
/// tracks; the other is ignored)
pub(crate) fn object_set_lru_or_lfu(
    s: &Server,
    o: &mut RObj,
    lfu_freq: i64,
    lru_idle: i64,
    lru_clock: i64,
) {
    if s.maxmemory_policy_is_lfu() {
        if lfu_freq >= 0 {
            o.lru = ((crate::evict::lfu_get_time_in_minutes(s) as u32) << 8) | lfu_freq as u32;
        }
    } else if lru_idle >= 0 {
        // Seconds to LRU clock units (1000 ms each, so the same number).
        let mut lru_abs = lru_clock.wrapping_sub(lru_idle);
        if lru_abs < 0 {
            lru_abs = lru_abs.wrapping_add(LRU_CLOCK_MAX as i64);
        }
        // The field is 24 bits wide in Redis.
        o.lru = (lru_abs as u64 & LRU_CLOCK_MAX as u64) as u32;
    }
}

/// cluster.c: restoreCommand
///
/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore_command(s: &mut Server, c: &mut Client) {
    let (mut lfu_freq, mut lru_idle, mut lru_clock) = (-1i64, -1i64, -1i64);
    let (mut replace, mut absttl) = (false, false);
    let mut j = 4;
    while j < c.argv.len() {
        let additional = c.argv.len() - j - 1;
        let opt = c.argv[j].clone();
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if opt.eq_ignore_ascii_case(b"idletime") && additional >= 1 && lfu_freq == -1 {
            let Some(v) = get_long_long_from_object_or_reply(s, c, j + 1) else {
                return;
            };
            if v < 0 {
                add_reply_error(s, c, "Invalid IDLETIME value, must be >= 0");
                return;
            }
            lru_idle = v;
            lru_clock = s.lru_clock() as i64;
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"freq") && additional >= 1 && lru_idle == -1 {
            let Some(v) = get_long_long_from_object_or_reply(s, c, j + 1) else {
                return;
            };
            if !(0..=255).contains(&v) {
                add_reply_error(s, c, "Invalid FREQ value, must be >= 0 and <= 255");
                return;
            }
            lfu_freq = v;
            j += 1;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }

    let key = c.argv[1].clone();
    if !replace && db::lookup_key_write(s, c.db, &key).is_some() {
        add_reply_error(s, c, BUSYKEYERR);
        return;
    }

    let Some(mut ttl) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if ttl < 0 {
        add_reply_error(s, c, "Invalid TTL value, must be >= 0");
        return;
    }

    let payload = c.argv[3].clone();
    if !verify_dump_payload(&payload) {
        add_reply_error(s, c, "DUMP payload version or checksum are wrong");
        return;
    }
    let mut r = Rio::new(&payload);
    let loaded = rdb::rdb_load_object_type(&mut r).and_then(|t| rdb::rdb_load_object(s, t, &mut r));
    let Ok(mut obj) = loaded else {
        add_reply_error(s, c, "Bad data format");
        return;
    };

    let deleted = replace && db::db_delete(s, c.db, &key);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(crate::util::mstime());
    }
    if ttl != 0 && ttl <= crate::util::mstime() {
        // Already expired: nothing is created, and a replaced key is simply gone.
        if deleted {
            s.propagate_argv = Some(vec![Bytes::from_static(b"DEL"), key.clone()]);
            db::signal_modified_key(s, c.db, &key);
            notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
            s.dirty += 1;
        }
        c.add_reply(shared::OK);
        return;
    }

    object_set_lru_or_lfu(s, &mut obj, lfu_freq, lru_idle, lru_clock);
    db::db_add(s, c.db, key.clone(), obj);
    if ttl != 0 {
        s.db[c.db].set_expire(&key, ttl);
        if !absttl {
            // Replicas and the AOF get the absolute time, so they expire it together.
            let mut argv = c.argv.clone();
            argv[2] = Bytes::from(ttl.to_string());
            argv.push(Bytes::from_static(b"ABSTTL"));
            s.propagate_argv = Some(argv);
        }
    }
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_GENERIC, "restore", &key, c.db);
    c.add_reply(shared::OK);
    s.dirty += 1;
}
