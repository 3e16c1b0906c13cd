//! Port of multi.c: MULTI/EXEC transactions and the WATCH keys that make EXEC fail
//! when another client changed them first (optimistic locking).

use bytes::Bytes;
use mio::Token;

use crate::commands::{RedisCommand, CMD_DENYOOM, CMD_MAY_REPLICATE, CMD_READONLY, CMD_WRITE};
use crate::networking::{
    Client, CLIENT_DENY_BLOCKING, CLIENT_DIRTY_CAS, CLIENT_DIRTY_EXEC, CLIENT_MULTI,
};
use crate::resp::{add_reply_error, add_reply_error_length, shared};
use crate::server::{call, Server};

/// One queued command (server.h: multiCmd).
pub struct MultiCmd {
    pub argv: Vec<Bytes>,
    pub cmd: &'static RedisCommand,
}

/// The commands a client queued after MULTI (server.h: multiState).
#[derive(Default)]
pub struct MultiState {
    pub commands: Vec<MultiCmd>,
    /// The union of the queued commands' flags, so processCommand can treat EXEC as
    /// a write (or deny-oom) command when any queued command is one.
    pub cmd_flags: u64,
    /// The union of their inverted flags: "some command lacks flag X".
    pub cmd_inv_flags: u64,
    pub argv_len_sums: usize,
}

/// One client watching one key, kept in the database's `watched_keys`
/// (multi.c: watchedKey). The client side keeps `(db, key)` pairs.
pub struct WatchedKey {
    pub token: Token,
    pub client_id: u64,
    /// The key was already logically expired when WATCH ran: its deletion by expiry
    /// is not a change, its re-creation is.
    pub expired: bool,
}

/// multi.c: initClientMultiState / freeClientMultiState
pub fn free_client_multi_state(c: &mut Client) {
    c.mstate = MultiState::default();
}

// ANCHOR: queue_multi_command
/// multi.c: queueMultiCommand
///
/// The command is only stored: nothing of it runs, and nothing it would read or
/// write is looked at, until EXEC.
pub fn queue_multi_command(c: &mut Client, cmd_flags: u64) {
    // An aborted transaction will be refused by EXEC: queueing would only use memory.
    if c.flags & (CLIENT_DIRTY_CAS | CLIENT_DIRTY_EXEC) != 0 {
        return;
    }
    let cmd = c.cmd.expect("a queued command was looked up");
    let argv = std::mem::take(&mut c.argv);
    let argv_len_sum = c.argv_len_sum;
    let argc = argv.len();
    let ms = &mut c.mstate;
    ms.commands.push(MultiCmd { argv, cmd });
    ms.cmd_flags |= cmd_flags;
    ms.cmd_inv_flags |= !cmd_flags;
    ms.argv_len_sums += argv_len_sum + std::mem::size_of::<usize>() * argc;
    c.argv_len_sum = 0;
}
// ANCHOR_END: queue_multi_command

/// multi.c: discardTransaction
pub fn discard_transaction(s: &mut Server, c: &mut Client) {
    free_client_multi_state(c);
    c.flags &= !(CLIENT_MULTI | CLIENT_DIRTY_CAS | CLIENT_DIRTY_EXEC);
    unwatch_all_keys(s, c);
}

/// multi.c: flagTransaction
///
/// A command refused while queueing dooms the whole transaction.
pub fn flag_transaction(c: &mut Client) {
    if c.flags & CLIENT_MULTI != 0 {
        c.flags |= CLIENT_DIRTY_EXEC;
    }
}

/// multi.c: multiCommand
pub fn multi_command(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_MULTI != 0 {
        add_reply_error(s, c, "MULTI calls can not be nested");
        return;
    }
    c.flags |= CLIENT_MULTI;
    c.add_reply(shared::OK);
}

/// multi.c: discardCommand
pub fn discard_command(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_MULTI == 0 {
        add_reply_error(s, c, "DISCARD without MULTI");
        return;
    }
    discard_transaction(s, c);
    c.add_reply(shared::OK);
}

/// multi.c: execCommandAbort
///
/// EXEC itself was refused by processCommand: the transaction goes, and the reason
/// is reported under the EXECABORT code.
pub fn exec_command_abort(s: &mut Server, c: &mut Client, err: &[u8]) {
    discard_transaction(s, c);
    let err = err.strip_prefix(b"-").unwrap_or(err);
    let mut msg = b"-EXECABORT Transaction discarded because of: ".to_vec();
    msg.extend_from_slice(err);
    add_reply_error_length(s, c, &msg);
    // MONITOR saw MULTI; show the EXEC that ends it, though nothing ran.
    let argv = c.argv.clone();
    crate::replication::replication_feed_monitors(s, c, c.db, &argv);
}

/// The processCommand flags EXEC borrows from its queued commands: EXEC counts as a
/// write, read, may-replicate or deny-oom command when any queued command is one.
pub fn exec_borrowed_flags(c: &Client) -> u64 {
    if c.flags & CLIENT_MULTI == 0 {
        return 0;
    }
    c.mstate.cmd_flags & (CMD_WRITE | CMD_MAY_REPLICATE | CMD_DENYOOM | CMD_READONLY)
}

// ANCHOR: exec_command
/// multi.c: execCommand
///
/// Every queued command runs through `call`, one after the other, inside this one
/// command: no other client's command can run in between, because none runs until
/// this function returns.
pub fn exec_command(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_MULTI == 0 {
        add_reply_error(s, c, "EXEC without MULTI");
        return;
    }
    // A watched key that expired since WATCH counts as modified.
    if is_watched_key_expired(s, c) {
        c.flags |= CLIENT_DIRTY_CAS;
    }
    if c.flags & (CLIENT_DIRTY_CAS | CLIENT_DIRTY_EXEC) != 0 {
        if c.flags & CLIENT_DIRTY_EXEC != 0 {
            add_reply_error(
                s,
                c,
                "-EXECABORT Transaction discarded because of previous errors.",
            );
        } else {
            c.add_reply_null_array();
        }
        discard_transaction(s, c);
        return;
    }
    let old_flags = c.flags;
    // A blocking command inside a transaction answers as if it timed out.
    c.flags |= CLIENT_DENY_BLOCKING;
    unwatch_all_keys(s, c);
    s.in_exec = true;
    let orig_argv = std::mem::take(&mut c.argv);
    let orig_cmd = c.cmd;
    let count = c.mstate.commands.len();
    c.add_reply_array_len(count);
    // The queue stays in place while it runs (CLIENT LIST shows multi=<count>); each
    // command borrows its arguments as the client's argv for its call.
    for j in 0..count {
        c.argv = std::mem::take(&mut c.mstate.commands[j].argv);
        c.cmd = Some(c.mstate.commands[j].cmd);
        call(s, c, crate::server::CMD_CALL_FULL);
        // A command may rewrite its own argv; keep what it left, as Redis does.
        c.mstate.commands[j].argv = std::mem::take(&mut c.argv);
    }
    if old_flags & CLIENT_DENY_BLOCKING == 0 {
        c.flags &= !CLIENT_DENY_BLOCKING;
    }
    c.argv = orig_argv;
    c.cmd = orig_cmd;
    discard_transaction(s, c);
    s.in_exec = false;
}
// ANCHOR_END: exec_command

/// multi.c: isWatchedKeyExpired
fn is_watched_key_expired(s: &mut Server, c: &Client) -> bool {
    let now = s.mstime;
    for (dbid, key) in &c.watched_keys {
        let expired_at_watch = s.db[*dbid]
            .watched_keys
            .get(key)
            .and_then(|l| l.iter().find(|w| w.client_id == c.id))
            .map(|w| w.expired)
            .unwrap_or(false);
        if expired_at_watch {
            continue;
        }
        if s.db[*dbid].key_is_expired(key, now) {
            return true;
        }
    }
    false
}

/// multi.c: watchForKey
fn watch_for_key(s: &mut Server, c: &mut Client, key: &Bytes) {
    let dbid = c.db;
    if c.watched_keys.iter().any(|(d, k)| *d == dbid && k == key) {
        return;
    }
    let now = s.mstime;
    let expired = s.db[dbid].key_is_expired(key, now);
    // Our own copy of the name: the argument is a slice of the query buffer.
    let key = Bytes::copy_from_slice(key);
    s.db[dbid]
        .watched_keys
        .entry(key.clone())
        .or_default()
        .push(WatchedKey {
            token: c.token,
            client_id: c.id,
            expired,
        });
    c.watched_keys.push((dbid, key));
}

/// multi.c: unwatchAllKeys
pub fn unwatch_all_keys(s: &mut Server, c: &mut Client) {
    let keys = std::mem::take(&mut c.watched_keys);
    unwatch_keys(s, c.id, keys);
}

/// The database side of unwatchAllKeys, for a client that may not be at hand.
fn unwatch_keys(s: &mut Server, client_id: u64, keys: Vec<(usize, Bytes)>) {
    for (dbid, key) in keys {
        let map = &mut s.db[dbid].watched_keys;
        if let Some(list) = map.get_mut(&key) {
            if let Some(pos) = list.iter().position(|w| w.client_id == client_id) {
                list.remove(pos);
            }
            if list.is_empty() {
                map.remove(&key);
            }
        }
    }
}

/// multi.c: watchCommand
pub fn watch_command(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_MULTI != 0 {
        add_reply_error(s, c, "WATCH inside MULTI is not allowed");
        return;
    }
    // Already doomed: watching more changes nothing.
    if c.flags & CLIENT_DIRTY_CAS != 0 {
        c.add_reply(shared::OK);
        return;
    }
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        watch_for_key(s, c, &key);
    }
    c.add_reply(shared::OK);
}

/// multi.c: unwatchCommand
pub fn unwatch_command(s: &mut Server, c: &mut Client) {
    unwatch_all_keys(s, c);
    c.flags &= !CLIENT_DIRTY_CAS;
    c.add_reply(shared::OK);
}

// ANCHOR: touch_watched_key
/// multi.c: touchWatchedKey
///
/// Called from signal_modified_key for every write: each client watching the key is
/// marked dirty, so its EXEC will return a null array, and stops watching anything.
pub fn touch_watched_key(s: &mut Server, dbid: usize, key: &[u8]) {
    if s.db[dbid].watched_keys.is_empty() {
        return;
    }
    let key_exists = s.db[dbid].dict.find(key).is_some();
    let pending = &s.pending_dirty_cas;
    let Some(list) = s.db[dbid].watched_keys.get_mut(key) else {
        return;
    };
    let mut dirty: Vec<(Token, u64)> = Vec::new();
    for wk in list.iter_mut() {
        if pending.iter().any(|p| p.1 == wk.client_id && p.2) {
            continue; // Already dirty: Redis has dropped its watches.
        }
        if wk.expired {
            if !key_exists {
                // The expired key was deleted: logically nothing changed.
                wk.expired = false;
                continue;
            }
            // Redis 7.0.15 stops looking at further watchers here.
            break;
        }
        dirty.push((wk.token, wk.client_id));
    }
    for (token, id) in dirty {
        mark_dirty_cas(s, token, id, true);
    }
}
// ANCHOR_END: touch_watched_key

/// Sets CLIENT_DIRTY_CAS on a watcher (and, for touchWatchedKey, drops its watches).
/// The client running the current command is not in the client table: it is marked
/// when `call` or `put_client` hands it back (`apply_pending_dirty_cas`).
fn mark_dirty_cas(s: &mut Server, token: Token, id: u64, unwatch: bool) {
    let keys = match s.clients.get_mut(token.0) {
        Some(Some(cl)) if cl.id == id && cl.io.is_some() => {
            cl.flags |= CLIENT_DIRTY_CAS;
            if !unwatch {
                return;
            }
            std::mem::take(&mut cl.watched_keys)
        }
        _ => {
            s.pending_dirty_cas.push((token, id, unwatch));
            return;
        }
    };
    unwatch_keys(s, id, keys);
}

/// Applies the dirty marks that were meant for `c` while it was out of the client
/// table (it ran the command that touched its own watched key).
pub fn apply_pending_dirty_cas(s: &mut Server, c: &mut Client) {
    let mut unwatch = None;
    s.pending_dirty_cas.retain(|p| {
        if p.1 != c.id {
            return true;
        }
        unwatch = Some(unwatch.unwrap_or(false) || p.2);
        false
    });
    if let Some(unwatch) = unwatch {
        c.flags |= CLIENT_DIRTY_CAS;
        if unwatch {
            unwatch_all_keys(s, c);
        }
    }
}

/// multi.c: touchAllWatchedKeysInDb
///
/// FLUSHDB/FLUSHALL (`replaced_with` None) and SWAPDB: a watched key that existed, or
/// will exist after the swap, counts as modified.
pub fn touch_all_watched_keys_in_db(s: &mut Server, emptied: usize, replaced_with: Option<usize>) {
    if s.db[emptied].watched_keys.is_empty() {
        return;
    }
    let now = s.mstime;
    let keys: Vec<Bytes> = s.db[emptied].watched_keys.keys().cloned().collect();
    let mut dirty: Vec<(Token, u64)> = Vec::new();
    for key in keys {
        let exists_in_emptied = s.db[emptied].dict.find(&key[..]).is_some();
        let exists_in_replacement =
            replaced_with.is_some_and(|r| s.db[r].dict.find(&key[..]).is_some());
        if !exists_in_emptied && !exists_in_replacement {
            continue;
        }
        let replacement_expired = replaced_with.is_some_and(|r| s.db[r].key_is_expired(&key, now));
        let Some(list) = s.db[emptied].watched_keys.get_mut(&key) else {
            continue;
        };
        for wk in list.iter_mut() {
            if wk.expired {
                if !exists_in_replacement {
                    // The expired key is now gone: no logical change.
                    wk.expired = false;
                    continue;
                } else if replacement_expired {
                    continue;
                }
            } else if !exists_in_emptied && replacement_expired {
                // A missing key replaced by an already expired one.
                wk.expired = true;
                continue;
            }
            dirty.push((wk.token, wk.client_id));
        }
    }
    // Unlike touchWatchedKey, Redis leaves these clients' watches in place.
    for (token, id) in dirty {
        mark_dirty_cas(s, token, id, false);
    }
}

/// multi.c: multiStateMemOverhead (part of CLIENT LIST's tot-mem)
pub fn multi_state_mem_overhead(c: &Client) -> usize {
    let mut mem = c.mstate.argv_len_sums;
    // A list node and a watchedKey per watched key, as Redis counts them.
    mem += c.watched_keys.len() * (24 + 32);
    // The queue grows from two slots by doubling; each slot is a multiCmd.
    let count = c.mstate.commands.len();
    let alloc = if count == 0 {
        0
    } else {
        count.max(2).next_power_of_two()
    };
    mem + alloc * 24
}
