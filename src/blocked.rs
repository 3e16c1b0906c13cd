//! Port of blocked.c: clients blocked on keys (BLPOP and friends) or held by
//! CLIENT PAUSE, the keys signalled ready, and serving waiters once a command ends.
//!
//! Redis keeps the key -> waiters table in each `redisDb`; here it lives in
//! `BlockedState`, keyed by (db, key). SWAPDB never swaps it in Redis either: a
//! waiter stays in the database number it blocked in.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use mio::Token;

use crate::networking::{Client, CLIENT_BLOCKED, CLIENT_PENDING_COMMAND, CLIENT_UNBLOCKED};
use crate::server::Server;

// ANCHOR: blocked_type
/// Why a client is blocked (server.h: BLOCKED_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockedType {
    #[default]
    None = 0,
    /// BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP
    List = 1,
    /// BZPOPMIN, BZPOPMAX, BZMPOP
    ZSet = 2,
    /// Held by CLIENT PAUSE; its command runs from scratch when released.
    Postpone = 3,
}
// ANCHOR_END: blocked_type

/// server.h: BLOCKED_NUM
pub const BLOCKED_NUM: usize = 4;

/// server.h: blockPos (where to pop from, where to push to)
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockPos {
    /// LIST_HEAD/LIST_TAIL, or ZSET_MIN/ZSET_MAX for a sorted set.
    pub wherefrom: u8,
    pub whereto: u8,
}

/// What a blocked client waits for (server.h: blockingState, client->bpop).
#[derive(Debug, Clone, Default)]
pub struct BlockingState {
    /// Absolute unix time in ms, or 0 to wait forever.
    pub timeout: i64,
    /// The keys it waits on, each once, in the order given.
    pub keys: Vec<Bytes>,
    /// BLMOVE's destination.
    pub target: Option<Bytes>,
    pub wherefrom: u8,
    pub whereto: u8,
    /// BLMPOP/BZMPOP's COUNT, -1 for the single-element commands.
    pub count: i64,
}

/// One waiter in a key's queue: the slab slot and the id, so a reused slot is
/// never mistaken for the client that blocked.
pub type Waiter = (Token, u64);

/// The server's blocking state (server.h: blocked_clients, blocked_clients_by_type,
/// ready_keys, unblocked_clients, clients_timeout_table, and redisDb.blocking_keys /
/// redisDb.ready_keys).
#[derive(Default)]
pub struct BlockedState {
    pub blocked_clients: usize,
    pub blocked_clients_by_type: [usize; BLOCKED_NUM],
    /// (db, key) -> the clients waiting on it, first blocked first.
    pub blocking_keys: HashMap<(usize, Bytes), VecDeque<Waiter>>,
    /// Keys that may now serve a waiter, in the order they became ready.
    pub ready_keys: Vec<(usize, Bytes)>,
    /// The same keys, so one key is queued once (redisDb.ready_keys).
    pub ready_keys_set: HashSet<(usize, Bytes)>,
    /// Clients just unblocked whose pipelined input waits for beforeSleep.
    pub unblocked_clients: VecDeque<Waiter>,
    /// (deadline ms, client id, slot): the timeouts in order (timeout.c's radix tree).
    pub clients_timeout_table: BTreeSet<(i64, u64, usize)>,
}

/// blocked.c: blockClient
pub fn block_client(s: &mut Server, c: &mut Client, btype: BlockedType) {
    c.flags |= CLIENT_BLOCKED;
    c.btype = btype;
    s.bstate.blocked_clients += 1;
    s.bstate.blocked_clients_by_type[btype as usize] += 1;
    crate::timeout::add_client_to_timeout_table(s, c);
    if btype == BlockedType::Postpone {
        s.postponed_clients.push((c.token, c.id));
        // Its command has been parsed but not run: run it when released.
        c.flags |= CLIENT_PENDING_COMMAND;
    }
}

// ANCHOR: block_for_keys
/// blocked.c: blockForKeys
///
/// Queues the client at the end of each key's waiter list (FIFO per key) and
/// blocks it. The command stays in argv: the client is not reset until served.
#[allow(clippy::too_many_arguments)]
pub fn block_for_keys(
    s: &mut Server,
    c: &mut Client,
    btype: BlockedType,
    keys: &[Bytes],
    count: i64,
    timeout: i64,
    target: Option<Bytes>,
    pos: BlockPos,
) {
    c.bpop.count = count;
    c.bpop.timeout = timeout;
    c.bpop.target = target;
    c.bpop.wherefrom = pos.wherefrom;
    c.bpop.whereto = pos.whereto;
    for key in keys {
        // A key given twice is waited on once.
        if c.bpop.keys.contains(key) {
            continue;
        }
        c.bpop.keys.push(key.clone());
        s.bstate
            .blocking_keys
            .entry((c.db, key.clone()))
            .or_default()
            .push_back((c.token, c.id));
    }
    block_client(s, c, btype);
}
// ANCHOR_END: block_for_keys

/// blocked.c: unblockClientWaitingData
fn unblock_client_waiting_data(s: &mut Server, c: &mut Client) {
    for key in std::mem::take(&mut c.bpop.keys) {
        let k = (c.db, key);
        if let Some(l) = s.bstate.blocking_keys.get_mut(&k) {
            l.retain(|&(_, id)| id != c.id);
            if l.is_empty() {
                s.bstate.blocking_keys.remove(&k);
            }
        }
    }
    c.bpop.target = None;
}

// ANCHOR: unblock_client
/// blocked.c: unblockClient
///
/// Forgets what the client waited for, clears CLIENT_BLOCKED and queues it so
/// beforeSleep runs what it pipelined meanwhile (or, for a paused client, the held
/// command itself).
pub fn unblock_client(s: &mut Server, c: &mut Client) {
    match c.btype {
        BlockedType::List | BlockedType::ZSet => unblock_client_waiting_data(s, c),
        BlockedType::Postpone => {
            let id = c.id;
            s.postponed_clients.retain(|&(_, x)| x != id);
        }
        BlockedType::None => {}
    }
    // A key-blocked client kept its command until now; a postponed one still needs it.
    if c.btype != BlockedType::Postpone {
        c.reset();
    }
    s.bstate.blocked_clients -= 1;
    s.bstate.blocked_clients_by_type[c.btype as usize] -= 1;
    c.flags &= !CLIENT_BLOCKED;
    c.btype = BlockedType::None;
    crate::timeout::remove_client_from_timeout_table(s, c);
    queue_client_for_reprocessing(s, c);
}
// ANCHOR_END: unblock_client

/// blocked.c: queueClientForReprocessing
pub fn queue_client_for_reprocessing(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_UNBLOCKED == 0 {
        c.flags |= CLIENT_UNBLOCKED;
        s.bstate.unblocked_clients.push_back((c.token, c.id));
    }
}

/// blocked.c: processUnblockedClients
///
/// Runs, for each client unblocked since the last turn, its pending command (a
/// client released by CLIENT PAUSE) and then whatever it pipelined while blocked.
pub fn process_unblocked_clients(s: &mut Server) {
    while let Some((token, id)) = s.bstate.unblocked_clients.pop_front() {
        let Some(mut c) = s.take_client(token) else {
            continue;
        };
        if c.id != id {
            s.put_client(c);
            continue;
        }
        c.flags &= !CLIENT_UNBLOCKED;
        if c.flags & CLIENT_BLOCKED == 0 {
            if c.flags & CLIENT_PENDING_COMMAND != 0 {
                c.flags &= !CLIENT_PENDING_COMMAND;
                if !c.argv.is_empty() {
                    crate::server::process_command_and_reset_client(s, &mut c);
                }
            }
            if !crate::networking::process_input_buffer(s, &mut c) {
                continue;
            }
        }
        s.put_client(c);
    }
}

/// blocked.c: replyToBlockedClientTimedOut
pub fn reply_to_blocked_client_timed_out(c: &mut Client) {
    match c.btype {
        BlockedType::List | BlockedType::ZSet => c.add_reply_null_array(),
        // A postponed client never times out (it has no deadline).
        BlockedType::Postpone | BlockedType::None => {}
    }
}

/// blocked.c: signalKeyAsReady
///
/// Called when a key is created (db_add) or may have gained elements of a type
/// someone waits for; cheap when nobody blocks on it.
pub fn signal_key_as_ready(s: &mut Server, dbid: usize, key: &[u8], btype: BlockedType) {
    if btype == BlockedType::None || s.bstate.blocked_clients_by_type[btype as usize] == 0 {
        return;
    }
    let k = (dbid, Bytes::copy_from_slice(key));
    if !s.bstate.blocking_keys.contains_key(&k) || s.bstate.ready_keys_set.contains(&k) {
        return;
    }
    s.bstate.ready_keys_set.insert(k.clone());
    s.bstate.ready_keys.push(k);
}

/// blocked.c: getBlockedTypeByType
pub fn get_blocked_type_by_value(v: &crate::object::Value) -> BlockedType {
    match v {
        crate::object::Value::List(_) => BlockedType::List,
        crate::object::Value::ZSet(_) => BlockedType::ZSet,
        _ => BlockedType::None,
    }
}

/// db.c: scanDatabaseForReadyKeys (after SWAPDB, waiters may find data)
pub fn scan_database_for_ready_keys(s: &mut Server, dbid: usize) {
    let keys: Vec<Bytes> = s
        .bstate
        .blocking_keys
        .keys()
        .filter(|(d, _)| *d == dbid)
        .map(|(_, k)| k.clone())
        .collect();
    for key in keys {
        let bt = match s.db[dbid].dict.find(&key[..]) {
            Some(e) => get_blocked_type_by_value(&e.val.ptr),
            None => continue,
        };
        signal_key_as_ready(s, dbid, &key, bt);
    }
}

// ANCHOR: handle_clients_blocked_on_keys
/// blocked.c: handleClientsBlockedOnKeys
///
/// Runs right after a command (process_command) and in beforeSleep. The command
/// that made keys ready has completed, so every waiter sees its whole effect.
/// Serving may make more keys ready (BLMOVE pushes on its destination): the loop
/// runs until no key is left.
pub fn handle_clients_blocked_on_keys(s: &mut Server) {
    while !s.bstate.ready_keys.is_empty() {
        let l = std::mem::take(&mut s.bstate.ready_keys);
        for (dbid, key) in l {
            s.bstate.ready_keys_set.remove(&(dbid, key.clone()));
            s.update_cached_time();
            let flags = crate::db::LOOKUP_NONOTIFY | crate::db::LOOKUP_NOSTATS;
            let found = crate::db::lookup_key_read_with_flags(s, dbid, &key, flags)
                .map(|o| get_blocked_type_by_value(&o.ptr));
            match found {
                Some(BlockedType::List) => serve_clients_blocked_on_list_key(s, dbid, &key),
                Some(BlockedType::ZSet) => serve_clients_blocked_on_sorted_set_key(s, dbid, &key),
                Some(_) => {}
                // The lookup may have expired the key: propagate that DEL now.
                None => crate::server::propagate_pending_commands(s),
            }
        }
    }
}
// ANCHOR_END: handle_clients_blocked_on_keys

// ANCHOR: serve_clients_blocked_on_list_key
/// blocked.c: serveClientsBlockedOnListKey
///
/// Serves the key's BLOCKED_LIST waiters in the order they blocked, one element
/// (or one COUNT batch) each, until the list is gone.
fn serve_clients_blocked_on_list_key(s: &mut Server, dbid: usize, key: &Bytes) {
    if s.bstate.blocked_clients_by_type[BlockedType::List as usize] == 0 {
        return;
    }
    // No command runs while we serve, so nobody can join the queue meanwhile.
    let waiters: Vec<Waiter> = match s.bstate.blocking_keys.get(&(dbid, key.clone())) {
        Some(l) => l.iter().copied().collect(),
        None => return,
    };
    for (token, id) in waiters {
        let Some(mut receiver) = s.take_client(token) else {
            continue;
        };
        if receiver.id != id || receiver.btype != BlockedType::List {
            s.put_client(receiver);
            continue;
        }
        let prev_errors = s.stat_total_error_replies;
        let old = s.current_client.replace(receiver.id);
        let start = std::time::Instant::now();
        let deleted = crate::t_list::serve_client_blocked_on_list(s, &mut receiver, dbid, key);
        update_stats_on_unblock(
            s,
            &receiver,
            start.elapsed().as_micros() as u64,
            s.stat_total_error_replies != prev_errors,
        );
        unblock_client(s, &mut receiver);
        // afterCommand: what this waiter did is propagated on its own.
        crate::server::propagate_pending_commands(s);
        s.current_client = old;
        s.put_client(receiver);
        if deleted {
            break;
        }
    }
}
// ANCHOR_END: serve_clients_blocked_on_list_key

// ANCHOR: serve_clients_blocked_on_sorted_set_key
/// blocked.c: serveClientsBlockedOnSortedSetKey
///
/// Serves the key's BLOCKED_ZSET waiters in the order they blocked, each popping
/// one member (or its COUNT) from the end it asked for, until the set is gone.
fn serve_clients_blocked_on_sorted_set_key(s: &mut Server, dbid: usize, key: &Bytes) {
    if s.bstate.blocked_clients_by_type[BlockedType::ZSet as usize] == 0 {
        return;
    }
    let waiters: Vec<Waiter> = match s.bstate.blocking_keys.get(&(dbid, key.clone())) {
        Some(l) => l.iter().copied().collect(),
        None => return,
    };
    for (token, id) in waiters {
        let Some(mut receiver) = s.take_client(token) else {
            continue;
        };
        if receiver.id != id || receiver.btype != BlockedType::ZSet {
            s.put_client(receiver);
            continue;
        }
        let llen = match s.db[dbid].dict.get(&key[..]).map(|e| &e.val.ptr) {
            Some(crate::object::Value::ZSet(z)) => z.length() as i64,
            _ => {
                s.put_client(receiver);
                break;
            }
        };
        let count = receiver.bpop.count;
        let where_ = receiver.bpop.wherefrom as i32;
        // BZMPOP answers [key, [[member, score], ...]], BZPOP* [key, member, score].
        let nested = receiver.lastcmd.is_some_and(|cmd| cmd.fullname == "bzmpop");
        let prev_errors = s.stat_total_error_replies;
        let old = s.current_client.replace(receiver.id);
        let start = std::time::Instant::now();
        let mut deleted = false;
        crate::t_zset::generic_zpop_command(
            s,
            &mut receiver,
            std::slice::from_ref(key),
            where_,
            true,
            count,
            nested,
            nested,
            Some(&mut deleted),
        );
        let argv = crate::t_zset::zpop_propagation(where_, key, count, llen);
        crate::server::also_propagate(s, dbid, argv);
        update_stats_on_unblock(
            s,
            &receiver,
            start.elapsed().as_micros() as u64,
            s.stat_total_error_replies != prev_errors,
        );
        unblock_client(s, &mut receiver);
        crate::server::propagate_pending_commands(s);
        s.current_client = old;
        s.put_client(receiver);
        if deleted {
            break;
        }
    }
}
// ANCHOR_END: serve_clients_blocked_on_sorted_set_key

/// blocked.c: updateStatsOnUnblock (the time spent replying joins the command's)
pub fn update_stats_on_unblock(s: &mut Server, c: &Client, reply_us: u64, had_errors: bool) {
    if let Some(cmd) = c.lastcmd {
        let st = &mut s.command_stats[cmd.id];
        st.microseconds += reply_us;
        if had_errors {
            st.failed_calls += 1;
        }
    }
}

/// networking.c: clientCommand, the UNBLOCK branch
///
/// Releases a client blocked on keys as if it timed out, or with an -UNBLOCKED
/// error. A client held by CLIENT PAUSE is not released (Redis 7.0.15 would try to
/// give it a timeout reply it does not have; this port answers 0 instead).
pub fn client_unblock(s: &mut Server, c: &mut Client) {
    use crate::resp::{add_reply_error, shared};
    let mut unblock_error = false;
    if c.argv.len() == 4 {
        if c.argv[3].eq_ignore_ascii_case(b"timeout") {
            unblock_error = false;
        } else if c.argv[3].eq_ignore_ascii_case(b"error") {
            unblock_error = true;
        } else {
            add_reply_error(s, c, "CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    let Some(id) = crate::object::get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    // The caller itself is out of the table: take_client finds nothing, so 0.
    let target = s
        .lookup_client_by_id(id as u64)
        .and_then(|t| s.take_client(t));
    let Some(mut target) = target else {
        c.add_reply(shared::CZERO);
        return;
    };
    if target.flags & CLIENT_BLOCKED != 0 && target.btype != BlockedType::Postpone {
        if unblock_error {
            add_reply_error(
                s,
                &mut target,
                "-UNBLOCKED client unblocked via CLIENT UNBLOCK",
            );
        } else {
            reply_to_blocked_client_timed_out(&mut target);
        }
        unblock_client(s, &mut target);
        update_stats_on_unblock(s, &target, 0, true);
        c.add_reply(shared::CONE);
    } else {
        c.add_reply(shared::CZERO);
    }
    s.put_client(target);
}
