//! Port of timeout.c: the deadlines of blocked clients and the timeout argument of
//! blocking commands.
//!
//! Redis orders (deadline, client) pairs in a radix tree; a `BTreeSet` of
//! (deadline ms, client id, slot) gives the same "smallest first" walk.

use crate::networking::{Client, CLIENT_BLOCKED};
use crate::resp::add_reply_error;
use crate::server::Server;

/// timeout.c: checkBlockedClientTimeout
///
/// Times the client out if it is blocked and its deadline has passed. Returns true
/// if it did.
pub fn check_blocked_client_timeout(s: &mut Server, c: &mut Client, now: i64) -> bool {
    if c.flags & CLIENT_BLOCKED != 0 && c.bpop.timeout != 0 && c.bpop.timeout < now {
        crate::blocked::reply_to_blocked_client_timed_out(c);
        crate::blocked::unblock_client(s, c);
        true
    } else {
        false
    }
}

/// timeout.c: addClientToTimeoutTable (nothing for a client that waits forever)
pub fn add_client_to_timeout_table(s: &mut Server, c: &Client) {
    if c.bpop.timeout == 0 {
        return;
    }
    s.bstate
        .clients_timeout_table
        .insert((c.bpop.timeout, c.id, c.token.0));
}

/// timeout.c: removeClientFromTimeoutTable
pub fn remove_client_from_timeout_table(s: &mut Server, c: &Client) {
    if c.bpop.timeout == 0 {
        return;
    }
    s.bstate
        .clients_timeout_table
        .remove(&(c.bpop.timeout, c.id, c.token.0));
}

// ANCHOR: handle_blocked_clients_timeout
/// timeout.c: handleBlockedClientsTimeout
///
/// Called from beforeSleep: answers every client whose deadline has passed, in
/// deadline order, and stops at the first one still in the future. The event loop
/// never sleeps longer than a serverCron period, so a deadline is seen at most
/// 1000/hz ms late.
pub fn handle_blocked_clients_timeout(s: &mut Server) {
    if s.bstate.clients_timeout_table.is_empty() {
        return;
    }
    let now = crate::util::mstime();
    while let Some(&first) = s.bstate.clients_timeout_table.first() {
        let (deadline, id, slot) = first;
        if deadline >= now {
            break;
        }
        s.bstate.clients_timeout_table.remove(&first);
        let Some(mut c) = s.take_client(mio::Token(slot)) else {
            continue;
        };
        if c.id == id {
            check_blocked_client_timeout(s, &mut c, now);
        }
        s.put_client(c);
    }
}
// ANCHOR_END: handle_blocked_clients_timeout

/// timeout.c: getTimeoutFromObjectOrReply, in seconds (all list and zset commands)
///
/// The timeout is a decimal number of seconds, rounded up to whole milliseconds,
/// 0 meaning forever; the result is an absolute unix time in milliseconds.
pub fn get_timeout_from_object_or_reply(s: &mut Server, c: &mut Client, idx: usize) -> Option<i64> {
    let Some(secs) = parse_timeout_seconds(&c.argv[idx]) else {
        add_reply_error(s, c, "timeout is not a float or out of range");
        return None;
    };
    let ms = (secs * 1000.0).ceil();
    // Redis casts the long double to long long: infinities and anything beyond
    // 2^63 become LLONG_MIN on x86, hence "negative".
    // 2^63 is exact in a double; anything at or past it does not fit.
    let tval = if (-9.2e18..9_223_372_036_854_775_808.0).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    if tval < 0 {
        add_reply_error(s, c, "timeout is negative");
        return None;
    }
    Some(if tval > 0 {
        tval.saturating_add(crate::util::mstime())
    } else {
        0
    })
}

/// util.c: string2ld for a timeout, through the C library's strtod so the accepted
/// spellings are strtold's (hex floats, "inf", exponents). A value too small for a
/// double but not zero (say 1e-400) is a tiny timeout, as Redis's long double keeps it.
fn parse_timeout_seconds(b: &[u8]) -> Option<f64> {
    // util.c: MAX_LONG_DOUBLE_CHARS
    if b.is_empty() || b.len() >= 5 * 1024 || b[0].is_ascii_whitespace() || b.contains(&0) {
        return None;
    }
    let text = std::ffi::CString::new(b).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod only reads it
    // and writes the end pointer; errno is this thread's.
    let (v, errno) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(text.as_ptr(), &mut end);
        (v, *libc::__errno_location())
    };
    let consumed = end as usize - text.as_ptr() as usize;
    if consumed != b.len() || v.is_nan() || errno == libc::EINVAL {
        return None;
    }
    if errno == libc::ERANGE {
        // Past a double but within a long double (up to about 1e4932): Redis gets a
        // huge value, and then "timeout is negative".
        if v.is_infinite() {
            let exp = b
                .iter()
                .position(|&x| x == b'e' || x == b'E')
                .and_then(|p| std::str::from_utf8(&b[p + 1..]).ok()?.parse::<i64>().ok());
            return match exp {
                Some(e) if e < 4932 => Some(v),
                _ => None,
            };
        }
        if v == 0.0 {
            return Some(if b[0] == b'-' { -1e-300 } else { 1e-300 });
        }
    }
    Some(v)
}
