//! Port of expire.c: the EXPIRE family, TTL and PERSIST, and the active expire
//! cycle that deletes keys whose time has come even if no client touches them.

use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC};
use bytes::Bytes;

use crate::db::{self, LOOKUP_NOTOUCH};
use crate::networking::Client;
use crate::object::get_long_long_from_object_or_reply;
use crate::resp::{add_reply_error, shared};
use crate::server::Server;

/// expire.c: ACTIVE_EXPIRE_CYCLE_* tuning (at effort 1; higher effort scales them)
pub const ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP: u64 = 20;
pub const ACTIVE_EXPIRE_CYCLE_FAST_DURATION: u64 = 1000; // microseconds
pub const ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC: u64 = 25; // % of CPU
pub const ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE: u64 = 10; // % of stale keys
/// server.h: ACTIVE_EXPIRE_CYCLE_SLOW / ACTIVE_EXPIRE_CYCLE_FAST
pub const ACTIVE_EXPIRE_CYCLE_SLOW: u8 = 0;
pub const ACTIVE_EXPIRE_CYCLE_FAST: u8 = 1;

/// The function-local statics of activeExpireCycle (and the cron's database
/// cursors), kept in the server rather than in globals.
#[derive(Default, Debug)]
pub struct ExpireCycleState {
    pub current_db: usize,
    pub timelimit_exit: bool,
    pub last_fast_cycle: i64,
    pub resize_db: usize,
    pub rehash_db: usize,
    /// How many fast cycles ran and the longest one (microseconds), for tests and
    /// the book: the fast cycle must stay near its 1 ms budget.
    pub fast_cycles: u64,
    pub fast_cycle_max_us: i64,
}

/// expire.c: activeExpireCycleTryExpire (true if the entry was expired and deleted)
fn active_expire_cycle_try_expire(
    s: &mut Server,
    dbid: usize,
    key: &Bytes,
    when: i64,
    now: i64,
) -> bool {
    if now > when {
        db::delete_expired_key_and_propagate(s, dbid, key);
        true
    } else {
        false
    }
}

// ANCHOR: active_expire_cycle
/// expire.c: activeExpireCycle
///
/// Samples keys with a TTL, database by database, 20 at a time, deleting those
/// already expired; it goes on in a database while more than 10% of a sample was
/// stale, and stops at its time budget: 25% of a cron tick for the slow cycle,
/// 1 ms for the fast one (which before_sleep runs only when the slow one left
/// work behind, and not twice within 2 ms).
pub fn active_expire_cycle(s: &mut Server, cycle_type: u8) {
    let effort = (s.config.active_expire_effort - 1) as u64;
    let config_keys_per_loop =
        ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP + ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP / 4 * effort;
    let config_cycle_fast_duration =
        ACTIVE_EXPIRE_CYCLE_FAST_DURATION + ACTIVE_EXPIRE_CYCLE_FAST_DURATION / 4 * effort;
    let config_cycle_slow_time_perc = ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC + 2 * effort;
    let config_cycle_acceptable_stale = ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE - effort;

    let mut dbs_per_call = crate::server::CRON_DBS_PER_CALL;
    let start = crate::util::ustime();
    // Paused clients freeze the dataset: nothing expires meanwhile.
    if s.client_pause_type != crate::server::PauseType::Off {
        return;
    }
    if cycle_type == ACTIVE_EXPIRE_CYCLE_FAST {
        // Only when the last cycle ran out of time or many keys are stale, and
        // never more often than every two fast-cycle durations.
        if !s.expire_cycle.timelimit_exit
            && s.stat_expired_stale_perc < config_cycle_acceptable_stale as f64 / 100.0
        {
            return;
        }
        if start < s.expire_cycle.last_fast_cycle + config_cycle_fast_duration as i64 * 2 {
            return;
        }
        s.expire_cycle.last_fast_cycle = start;
    }
    let dbnum = s.db.len();
    if dbs_per_call > dbnum || s.expire_cycle.timelimit_exit {
        dbs_per_call = dbnum;
    }
    let mut timelimit = (config_cycle_slow_time_perc * 1_000_000 / s.hz.max(1) as u64 / 100) as i64;
    s.expire_cycle.timelimit_exit = false;
    if timelimit <= 0 {
        timelimit = 1;
    }
    if cycle_type == ACTIVE_EXPIRE_CYCLE_FAST {
        timelimit = config_cycle_fast_duration as i64;
    }
    let mut total_sampled: u64 = 0;
    let mut total_expired: u64 = 0;
    let mut iteration: u64 = 0;
    let mut batch: Vec<(Bytes, i64)> = Vec::new();

    let mut j = 0;
    while j < dbs_per_call && !s.expire_cycle.timelimit_exit {
        j += 1;
        let dbid = s.expire_cycle.current_db % dbnum;
        s.expire_cycle.current_db += 1;
        loop {
            iteration += 1;
            let num = s.db[dbid].expires.len() as u64;
            if num == 0 {
                s.db[dbid].avg_ttl = 0;
                break;
            }
            let slots = s.db[dbid].expires.slots() as u64;
            let now = crate::util::mstime();
            // Under 1% full the sampling would mostly see empty buckets: the cron
            // will shrink the table first.
            if slots > crate::dict::DICT_HT_INITIAL_SIZE as u64 && num * 100 / slots < 1 {
                break;
            }
            let mut expired: u64 = 0;
            let mut sampled: u64 = 0;
            let mut ttl_sum: i64 = 0;
            let mut ttl_samples: i64 = 0;
            let num = num.min(config_keys_per_loop);
            let max_buckets = num * 20;
            let mut checked_buckets = 0;
            while sampled < num && checked_buckets < max_buckets {
                // Collect the bucket(s) at the cursor first, then expire: deleting
                // would otherwise change the chain being walked.
                batch.clear();
                {
                    let exp = &s.db[dbid].expires;
                    for table in 0..2 {
                        if table == 1 && !exp.is_rehashing() {
                            break;
                        }
                        let size = exp.table_size(table);
                        if size == 0 {
                            continue;
                        }
                        let idx = (s.db[dbid].expires_cursor as usize) & (size - 1);
                        batch.extend(exp.bucket(table, idx).map(|e| (e.key.clone(), e.val)));
                        checked_buckets += 1;
                    }
                }
                for (key, when) in batch.drain(..) {
                    let ttl = when - now;
                    if active_expire_cycle_try_expire(s, dbid, &key, when, now) {
                        expired += 1;
                    }
                    if ttl > 0 {
                        // TTLs near i64::MAX (PXAT 9223372036854775807) overflow the
                        // sum; Redis's C addition wraps, and so does this one.
                        ttl_sum = ttl_sum.wrapping_add(ttl);
                        ttl_samples += 1;
                    }
                    sampled += 1;
                }
                s.db[dbid].expires_cursor = s.db[dbid].expires_cursor.wrapping_add(1);
            }
            total_expired += expired;
            total_sampled += sampled;
            if ttl_samples > 0 {
                let avg_ttl = ttl_sum / ttl_samples;
                let db = &mut s.db[dbid];
                if db.avg_ttl == 0 {
                    db.avg_ttl = avg_ttl;
                }
                db.avg_ttl = ((db.avg_ttl / 50) * 49).wrapping_add(avg_ttl / 50);
            }
            if iteration & 0xf == 0 {
                let elapsed = crate::util::ustime() - start;
                if elapsed > timelimit {
                    s.expire_cycle.timelimit_exit = true;
                    s.stat_expired_time_cap_reached_count += 1;
                    break;
                }
            }
            // Go on in this database while the sample was more than 10% stale.
            if !(sampled == 0 || expired * 100 / sampled > config_cycle_acceptable_stale) {
                break;
            }
        }
    }
    // Each deletion is its own operation in the stream, never a transaction.
    let ops = std::mem::take(&mut s.also_propagate);
    for op in ops {
        s.also_propagate.push(op);
        crate::server::propagate_pending_commands(s);
    }
    let elapsed = crate::util::ustime() - start;
    s.stat_expire_cycle_time_used += elapsed.max(0) as u64;
    if cycle_type == ACTIVE_EXPIRE_CYCLE_FAST {
        s.expire_cycle.fast_cycles += 1;
        s.expire_cycle.fast_cycle_max_us = s.expire_cycle.fast_cycle_max_us.max(elapsed);
    }
    let current_perc = if total_sampled > 0 {
        total_expired as f64 / total_sampled as f64
    } else {
        0.0
    };
    s.stat_expired_stale_perc = current_perc * 0.05 + s.stat_expired_stale_perc * 0.95;
}
// ANCHOR_END: active_expire_cycle

/// expire.c: checkAlreadyExpired
fn check_already_expired(s: &Server, when: i64) -> bool {
    // While loading, a past time is kept as is: the key expires afterwards.
    when <= crate::util::mstime() && !s.loading
}

const EXPIRE_NX: u32 = 1 << 0;
const EXPIRE_XX: u32 = 1 << 1;
const EXPIRE_GT: u32 = 1 << 2;
const EXPIRE_LT: u32 = 1 << 3;

/// expire.c: parseExtendedExpireArgumentsOrReply
fn parse_extended_expire_arguments_or_reply(s: &mut Server, c: &mut Client) -> Option<u32> {
    let mut flags = 0;
    for j in 3..c.argv.len() {
        let opt = &c.argv[j];
        if opt.eq_ignore_ascii_case(b"nx") {
            flags |= EXPIRE_NX;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            flags |= EXPIRE_XX;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            flags |= EXPIRE_GT;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            flags |= EXPIRE_LT;
        } else {
            // %s stops at a NUL byte, as the C format does.
            let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
            let msg = format!(
                "Unsupported option {}",
                String::from_utf8_lossy(&opt[..end])
            );
            add_reply_error(s, c, &msg);
            return None;
        }
    }
    let nx = flags & EXPIRE_NX != 0;
    if nx && flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        add_reply_error(
            s,
            c,
            "NX and XX, GT or LT options at the same time are not compatible",
        );
        return None;
    }
    if flags & EXPIRE_GT != 0 && flags & EXPIRE_LT != 0 {
        add_reply_error(
            s,
            c,
            "GT and LT options at the same time are not compatible",
        );
        return None;
    }
    Some(flags)
}

fn add_reply_error_expire_time(s: &mut Server, c: &mut Client) {
    let msg = format!(
        "invalid expire time in '{}' command",
        c.cmd.map(|x| x.fullname).unwrap_or("expire")
    );
    add_reply_error(s, c, &msg);
}

// ANCHOR: expire_generic_command
/// expire.c: expireGenericCommand
///
/// `basetime` is 0 for the *AT forms and the command's time otherwise. A time
/// already past deletes the key at once (propagated as DEL); any other is stored
/// and propagated as PEXPIREAT with the absolute time, so a replica or an AOF
/// replayed later expires the key at the same instant.
fn expire_generic_command(s: &mut Server, c: &mut Client, basetime: i64, seconds: bool) {
    let key = c.argv[1].clone();
    let Some(flag) = parse_extended_expire_arguments_or_reply(s, c) else {
        return;
    };
    let Some(mut when) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            add_reply_error_expire_time(s, c);
            return;
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        add_reply_error_expire_time(s, c);
        return;
    }
    when += basetime;
    if db::lookup_key_write(s, c.db, &key).is_none() {
        c.add_reply(shared::CZERO);
        return;
    }
    if flag != 0 {
        let current = s.db[c.db].get_expire(&key);
        let refuse = (flag & EXPIRE_NX != 0 && current.is_some())
            || (flag & EXPIRE_XX != 0 && current.is_none())
            // No TTL counts as infinite: never exceeded by GT, always by LT.
            || (flag & EXPIRE_GT != 0 && current.is_none_or(|cur| when <= cur))
            || (flag & EXPIRE_LT != 0 && current.is_some_and(|cur| when >= cur));
        if refuse {
            c.add_reply(shared::CZERO);
            return;
        }
    }
    if check_already_expired(s, when) {
        s.db[c.db].db_delete(&key);
        s.dirty += 1;
        s.propagate_argv = Some(vec![Bytes::from_static(b"DEL"), key.clone()]);
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        c.add_reply(shared::CONE);
    } else {
        s.db[c.db].set_expire(&key, when);
        c.add_reply(shared::CONE);
        let mut argv = c.argv.clone();
        argv[0] = Bytes::from_static(b"PEXPIREAT");
        if basetime != 0 || seconds {
            argv[2] = Bytes::from(when.to_string());
        }
        s.propagate_argv = Some(argv);
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "expire", &key, c.db);
        s.dirty += 1;
    }
}
// ANCHOR_END: expire_generic_command

/// expire.c: expireCommand
pub fn expire_command(s: &mut Server, c: &mut Client) {
    let now = s.mstime;
    expire_generic_command(s, c, now, true);
}

/// expire.c: expireatCommand
pub fn expireat_command(s: &mut Server, c: &mut Client) {
    expire_generic_command(s, c, 0, true);
}

/// expire.c: pexpireCommand
pub fn pexpire_command(s: &mut Server, c: &mut Client) {
    let now = s.mstime;
    expire_generic_command(s, c, now, false);
}

/// expire.c: pexpireatCommand
pub fn pexpireat_command(s: &mut Server, c: &mut Client) {
    expire_generic_command(s, c, 0, false);
}

/// expire.c: ttlGenericCommand
fn ttl_generic_command(s: &mut Server, c: &mut Client, output_ms: bool, output_abs: bool) {
    let key = c.argv[1].clone();
    if db::lookup_key_read_with_flags(s, c.db, &key, LOOKUP_NOTOUCH).is_none() {
        c.add_reply_long_long(-2);
        return;
    }
    match s.db[c.db].get_expire(&key) {
        None => c.add_reply_long_long(-1),
        Some(expire) => {
            let ttl = if output_abs {
                expire
            } else {
                expire - crate::util::mstime()
            }
            .max(0);
            c.add_reply_long_long(if output_ms { ttl } else { (ttl + 500) / 1000 });
        }
    }
}

/// expire.c: ttlCommand
pub fn ttl_command(s: &mut Server, c: &mut Client) {
    ttl_generic_command(s, c, false, false);
}

/// expire.c: pttlCommand
pub fn pttl_command(s: &mut Server, c: &mut Client) {
    ttl_generic_command(s, c, true, false);
}

/// expire.c: expiretimeCommand
pub fn expiretime_command(s: &mut Server, c: &mut Client) {
    ttl_generic_command(s, c, false, true);
}

/// expire.c: pexpiretimeCommand
pub fn pexpiretime_command(s: &mut Server, c: &mut Client) {
    ttl_generic_command(s, c, true, true);
}

/// expire.c: persistCommand
pub fn persist_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    if db::lookup_key_write(s, c.db, &key).is_some() {
        if s.db[c.db].remove_expire(&key) {
            db::signal_modified_key(s, c.db, &key);
            notify_keyspace_event(s, NOTIFY_GENERIC, "persist", &key, c.db);
            c.add_reply(shared::CONE);
            s.dirty += 1;
        } else {
            c.add_reply(shared::CZERO);
        }
    } else {
        c.add_reply(shared::CZERO);
    }
}
