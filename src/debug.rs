//! Port of debug.c, the subcommands ported so far (SLEEP, OBJECT, SET-ACTIVE-EXPIRE,
//! HTSTATS, HTSTATS-KEY, HELP). DEBUG is gated by `enable-debug-command` in
//! processCommand, as in Redis 7.0.

use crate::networking::Client;
use crate::resp::{add_reply_help, add_reply_subcommand_syntax_error, shared};
use crate::server::Server;

/// debug.c: debugCommand
pub fn debug_command(s: &mut Server, c: &mut Client) {
    let sub = c.argv[1].to_ascii_lowercase();
    match (sub.as_slice(), c.argv.len()) {
        (b"help", 2) => add_reply_help(
            c,
            &[
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        (b"sleep", 3) => {
            // Sleeping inside a command blocks the whole server: the point of the command.
            let secs: f64 = std::str::from_utf8(&c.argv[2])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            if secs > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            }
            c.add_reply(shared::OK);
        }
        (b"object", 3) => debug_object(s, c),
        (b"set-active-expire", 3) => {
            // atoi: leading digits, anything else is 0.
            s.active_expire_enabled = atoi(&c.argv[2]) != 0;
            c.add_reply(shared::OK);
        }
        (b"htstats", 3) => {
            let Some(dbid) = crate::object::get_long_long_from_object_or_reply(s, c, 2) else {
                return;
            };
            if dbid < 0 || dbid as usize >= s.db.len() {
                crate::resp::add_reply_error(s, c, "Out of range database");
                return;
            }
            let db = &s.db[dbid as usize];
            let mut stats = String::from("[Dictionary HT]\n");
            stats.push_str(&db.dict.get_stats());
            stats.push_str("[Expires HT]\n");
            stats.push_str(&db.expires.get_stats());
            c.add_reply_verbatim(stats.as_bytes(), "txt");
        }
        (b"htstats-key", 3) => {
            let key = c.argv[2].clone();
            if crate::db::lookup_key_read_with_flags(
                s,
                c.db,
                &key,
                crate::db::LOOKUP_NOTOUCH | crate::db::LOOKUP_NONOTIFY,
            )
            .is_none()
            {
                crate::resp::add_reply_error(s, c, shared::NOKEYERR);
                return;
            }
            // Only hashes, sets and sorted sets can be hash tables; strings never are.
            crate::resp::add_reply_error(
                s,
                c,
                "The value stored at the specified key is not represented using an hash table",
            );
        }
        // Not in Redis: records the propagation stream (what replicas and the AOF
        // will receive) so tests can read it. ON starts recording, GET returns and
        // clears it, OFF stops.
        (b"propagated", 3) => {
            let arg = c.argv[2].to_ascii_lowercase();
            match arg.as_slice() {
                b"on" => {
                    s.propagated = Some(Vec::new());
                    s.propagated_seldb = -1;
                    c.add_reply(shared::OK);
                }
                b"off" => {
                    s.propagated = None;
                    c.add_reply(shared::OK);
                }
                _ => {
                    let log = s
                        .propagated
                        .as_mut()
                        .map(std::mem::take)
                        .unwrap_or_default();
                    c.add_reply_array_len(log.len());
                    for argv in log {
                        c.add_reply_array_len(argv.len());
                        for a in argv {
                            c.add_reply_bulk(&a);
                        }
                    }
                }
            }
        }
        _ => add_reply_subcommand_syntax_error(s, c),
    }
}

/// C's atoi: optional blanks and sign, then leading digits; 0 if none.
fn atoi(b: &[u8]) -> i64 {
    let t = std::str::from_utf8(b).unwrap_or("").trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// rdb.c: rdbSavedObjectLen, for strings: what the value would take in an RDB file
/// (LZF compression of long strings is not modelled yet).
fn rdb_saved_string_len(o: &crate::object::RObj) -> usize {
    fn int_len(v: i64) -> Option<usize> {
        if (-(1 << 7)..(1 << 7)).contains(&v) {
            Some(2)
        } else if (-(1 << 15)..(1 << 15)).contains(&v) {
            Some(3)
        } else if (-(1i64 << 31)..(1i64 << 31)).contains(&v) {
            Some(5)
        } else {
            None
        }
    }
    fn len_len(n: usize) -> usize {
        if n < 1 << 6 {
            1
        } else if n < 1 << 14 {
            2
        } else if n <= u32::MAX as usize {
            5
        } else {
            9
        }
    }
    let mut text = o.str_bytes();
    let bytes = text.as_bytes();
    if bytes.len() <= 11 {
        if let Some(v) = crate::util::string2ll(bytes) {
            if let Some(n) = int_len(v) {
                return n;
            }
        }
    }
    len_len(bytes.len()) + bytes.len()
}

/// The OBJECT subcommand of debugCommand: one line about a value.
fn debug_object(s: &mut Server, c: &mut Client) {
    let key = c.argv[2].clone();
    let lruclock = s.lru_clock();
    let Some(e) = s.db[c.db].dict.get(&key) else {
        crate::resp::add_reply_error(s, c, shared::NOKEYERR);
        return;
    };
    let o = &e.val;
    let refcount = if o.shared {
        crate::object::OBJ_SHARED_REFCOUNT
    } else {
        1
    };
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        o as *const _,
        refcount,
        o.encoding_name(),
        rdb_saved_string_len(o),
        o.lru,
        crate::object::estimate_object_idle_time(lruclock, o.lru) / 1000
    );
    c.add_reply_status(&line);
}
