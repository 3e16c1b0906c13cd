//! Port of debug.c, the subcommands ported so far (SLEEP, OBJECT, DIGEST,
//! DIGEST-VALUE, SET-ACTIVE-EXPIRE, HTSTATS, HTSTATS-KEY, HELP). DEBUG is gated by
//! `enable-debug-command` in processCommand, as in Redis 7.0.

use crate::networking::Client;
use crate::object::{RObj, Value};
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
        (b"loadaof", 2) => crate::aof::debug_loadaof(s, c),
        (b"reload", _) => debug_reload(s, c),
        (b"digest", 2) => {
            let d = compute_dataset_digest(s);
            c.add_reply_status(&hex(&d));
        }
        (b"digest-value", _) => {
            let n = c.argv.len() - 2;
            c.add_reply_array_len(n);
            for j in 2..c.argv.len() {
                let key = c.argv[j].clone();
                let mut digest = [0u8; 20];
                // No lookupKey: logically expired keys still have a digest.
                let db = &mut s.db[c.db];
                let expire = db.get_expire(&key);
                if let Some(e) = db.dict.get(&key) {
                    xor_object_digest(&e.val, expire.is_some(), &mut digest);
                }
                c.add_reply_status(&hex(&digest));
            }
        }
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

/// debug.c: xorDigest (digest ^= SHA1(data): order-free)
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let hash = sha1_smol::Sha1::from(data).digest().bytes();
    for (d, h) in digest.iter_mut().zip(hash.iter()) {
        *d ^= h;
    }
}

/// debug.c: mixDigest (digest = SHA1(digest ^ SHA1(data)): order matters)
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1_smol::Sha1::from(&digest[..]).digest().bytes();
}

/// debug.c: xorObjectDigest (a value's digest mixed into `digest`)
fn xor_object_digest(o: &RObj, has_expire: bool, digest: &mut [u8; 20]) {
    let otype: u32 = match &o.ptr {
        Value::Int(_) | Value::EmbStr(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    };
    mix_digest(digest, &otype.to_be_bytes());
    match &o.ptr {
        Value::Int(_) | Value::EmbStr(_) | Value::Raw(_) => {
            let mut b = o.str_bytes();
            mix_digest(digest, b.as_bytes());
        }
        Value::List(l) => {
            for e in l.elements.iter() {
                mix_digest(digest, e);
            }
        }
        Value::Set(x) => {
            for e in x.iter() {
                xor_digest(digest, &e.to_bytes());
            }
        }
        Value::ZSet(z) => {
            for (ele, score) in z.iter_pairs() {
                let mut eledigest = [0u8; 20];
                mix_digest(&mut eledigest, &ele);
                mix_digest(&mut eledigest, crate::util::d2string(score).as_bytes());
                xor_digest(digest, &eledigest);
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                let mut eledigest = [0u8; 20];
                mix_digest(&mut eledigest, &f);
                mix_digest(&mut eledigest, &v);
                xor_digest(digest, &eledigest);
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// debug.c: computeDatasetDigest (every db's id mixed in, then each key/value pair's
/// digest xored, so key order does not matter)
pub fn compute_dataset_digest(s: &mut Server) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for j in 0..s.db.len() {
        if s.db[j].dict.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(j as u32).to_be_bytes());
        let db = &s.db[j];
        for e in db.dict.iter() {
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, &e.key);
            let has_expire = db.expires.get(&e.key).is_some();
            xor_object_digest(&e.val, has_expire, &mut digest);
            xor_digest(&mut fin, &digest);
        }
    }
    fin
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
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
        crate::rdb::rdb_saved_object_len(s, o),
        o.lru,
        crate::object::estimate_object_idle_time(lruclock, o.lru) / 1000
    );
    c.add_reply_status(&line);
}

// ANCHOR: debug_reload
/// debug.c: the RELOAD branch of debugCommand (DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE])
///
/// Saves, empties the dataset (functions too) and loads the file back: the whole
/// persistence round trip in one command.
fn debug_reload(s: &mut Server, c: &mut Client) {
    let (mut flush, mut save) = (true, true);
    let mut flags = crate::rdb::RDBFLAGS_NONE;
    for j in 2..c.argv.len() {
        let opt = &c.argv[j];
        if opt.eq_ignore_ascii_case(b"merge") {
            flags |= crate::rdb::RDBFLAGS_ALLOW_DUP;
        } else if opt.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if opt.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            crate::resp::add_reply_error(
                s,
                c,
                "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            );
            return;
        }
    }
    let filename = s.config.dbfilename.clone();
    if save && crate::rdb::rdb_save(s, &filename).is_err() {
        crate::resp::add_reply_error(s, c, "-ERR");
        return;
    }
    if flush {
        crate::db::empty_data(s, -1);
        crate::functions::functions_lib_ctx_clear_current(s);
    }
    if crate::rdb::rdb_load(s, &filename, flags).is_err() {
        crate::resp::add_reply_error(s, c, "Error trying to load the RDB dump");
        return;
    }
    crate::server_log!(s, crate::server::LL_WARNING, "DB reloaded by DEBUG RELOAD");
    c.add_reply(shared::OK);
}
// ANCHOR_END: debug_reload

/// debug.c: debugDelay
///
/// A negative delay sleeps 1 us once in -delay calls on average: short sleeps cost a
/// context switch each, so tests ask for them statistically.
pub fn debug_delay(usec: i64) {
    let usec = if usec < 0 {
        crate::dict::random_ulong().is_multiple_of(usec.unsigned_abs()) as u64
    } else {
        usec as u64
    };
    if usec != 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}
