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
    let Some(secs) = crate::util::string2ld(&c.argv[idx]) else {
        add_reply_error(s, c, "timeout is not a float or out of range");
        return None;
    };
    // Out-of-range products (an infinity, or past 2^63 ms) convert to LLONG_MIN on
    // x86-64, hence "timeout is negative".
    let tval = secs.ceil_ms();
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
