//! Port of tracking.c: client-side caching (CLIENT TRACKING). The server remembers
//! which clients read which keys, and tells them when a key they may have cached
//! changes: as a RESP3 push, or through `__redis__:invalidate` on a RESP2
//! connection the client redirects to.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::networking::{
    Client, CLIENT_MULTI, CLIENT_PUBSUB, CLIENT_TRACKING, CLIENT_TRACKING_BCAST,
    CLIENT_TRACKING_BROKEN_REDIR, CLIENT_TRACKING_CACHING, CLIENT_TRACKING_NOLOOP,
    CLIENT_TRACKING_OPTIN, CLIENT_TRACKING_OPTOUT,
};
use crate::resp::add_reply_error;
use crate::server::Server;

/// One broadcast prefix (tracking.c: bcastState).
#[derive(Default)]
pub struct BcastState {
    /// Keys modified in this event-loop cycle, with the client that modified each
    /// (for NOLOOP).
    pub keys: BTreeMap<Bytes, Option<u64>>,
    /// The BCAST clients subscribed to this prefix, by id.
    pub clients: BTreeSet<u64>,
}

/// The server's tracking state (tracking.c's globals). Ordered maps stand in for
/// Redis's radix trees: both iterate in key order.
#[derive(Default)]
pub struct TrackingState {
    /// Key -> the ids of clients that may have cached it (TrackingTable).
    pub table: BTreeMap<Bytes, BTreeSet<u64>>,
    /// Ids stored across the whole table (TrackingTableTotalItems).
    pub total_items: u64,
    /// Prefix -> its broadcast state (PrefixTable).
    pub prefixes: BTreeMap<Bytes, BcastState>,
    /// Clients with tracking on (server.tracking_clients).
    pub clients: usize,
    /// Invalidations for the client running a command, sent after its reply
    /// (server.tracking_pending_keys); None stands for "everything" (a flush).
    pub pending_keys: Vec<Option<Bytes>>,
    /// Consecutive cron runs that could not get under tracking-table-max-keys.
    timeout_counter: u32,
}

/// tracking.c: disableTracking
pub fn disable_tracking(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_TRACKING_BCAST != 0 {
        let prefixes = std::mem::take(&mut c.tracking_prefixes);
        for p in prefixes {
            if let Some(bs) = s.tracking.prefixes.get_mut(&p) {
                bs.clients.remove(&c.id);
                // The last client of a prefix takes the prefix with it.
                if bs.clients.is_empty() {
                    s.tracking.prefixes.remove(&p);
                }
            }
        }
    }
    if c.flags & CLIENT_TRACKING != 0 {
        s.tracking.clients -= 1;
        c.flags &= !(CLIENT_TRACKING
            | CLIENT_TRACKING_BROKEN_REDIR
            | CLIENT_TRACKING_BCAST
            | CLIENT_TRACKING_OPTIN
            | CLIENT_TRACKING_OPTOUT
            | CLIENT_TRACKING_CACHING
            | CLIENT_TRACKING_NOLOOP);
    }
}

/// tracking.c: stringCheckPrefix (one is a prefix of the other)
fn string_check_prefix(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// tracking.c: checkPrefixCollisionsOrReply
pub fn check_prefix_collisions_or_reply(
    s: &mut Server,
    c: &mut Client,
    prefixes: &[Bytes],
) -> bool {
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(existing) = c
            .tracking_prefixes
            .iter()
            .find(|e| string_check_prefix(e, p))
            .cloned()
        {
            let msg = format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(&existing)
            );
            add_reply_error(s, c, &msg);
            return false;
        }
        for q in &prefixes[i + 1..] {
            if string_check_prefix(p, q) {
                let msg = format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                );
                add_reply_error(s, c, &msg);
                return false;
            }
        }
    }
    true
}

/// tracking.c: enableBcastTrackingForPrefix
fn enable_bcast_tracking_for_prefix(s: &mut Server, c: &mut Client, prefix: &[u8]) {
    let bs = s
        .tracking
        .prefixes
        .entry(Bytes::copy_from_slice(prefix))
        .or_default();
    if bs.clients.insert(c.id) {
        c.tracking_prefixes.insert(Bytes::copy_from_slice(prefix));
    }
}

/// tracking.c: enableTracking
pub fn enable_tracking(
    s: &mut Server,
    c: &mut Client,
    redirect_to: u64,
    options: u64,
    prefixes: &[Bytes],
) {
    if c.flags & CLIENT_TRACKING == 0 {
        s.tracking.clients += 1;
    }
    c.flags |= CLIENT_TRACKING;
    c.flags &= !(CLIENT_TRACKING_BROKEN_REDIR
        | CLIENT_TRACKING_BCAST
        | CLIENT_TRACKING_OPTIN
        | CLIENT_TRACKING_OPTOUT
        | CLIENT_TRACKING_NOLOOP);
    c.tracking_redirection = redirect_to;
    if options & CLIENT_TRACKING_BCAST != 0 {
        c.flags |= CLIENT_TRACKING_BCAST;
        if prefixes.is_empty() {
            enable_bcast_tracking_for_prefix(s, c, b"");
        }
        for p in prefixes {
            enable_bcast_tracking_for_prefix(s, c, p);
        }
    }
    c.flags |= options & (CLIENT_TRACKING_OPTIN | CLIENT_TRACKING_OPTOUT | CLIENT_TRACKING_NOLOOP);
}

// ANCHOR: tracking_remember_keys
/// tracking.c: trackingRememberKeys
///
/// After a read-only command of a tracking client: remember that this client may
/// now cache each key the command read.
pub fn tracking_remember_keys(s: &mut Server, c: &Client) {
    let optin = c.flags & CLIENT_TRACKING_OPTIN != 0;
    let optout = c.flags & CLIENT_TRACKING_OPTOUT != 0;
    let caching_given = c.flags & CLIENT_TRACKING_CACHING != 0;
    if (optin && !caching_given) || (optout && caching_given) {
        return;
    }
    let Some(cmd) = c.cmd else { return };
    // Shard channels are keys for the cluster, not for caching.
    if cmd.flags & crate::commands::CMD_PUBSUB != 0 {
        return;
    }
    let mut keys = Vec::new();
    crate::commands::command::get_keys_from_command_with_specs(cmd, &c.argv, 0, &mut keys);
    for k in keys {
        let key = Bytes::copy_from_slice(&c.argv[k.pos]);
        if s.tracking.table.entry(key).or_default().insert(c.id) {
            s.tracking.total_items += 1;
        }
    }
}
// ANCHOR_END: tracking_remember_keys

/// What a tracking message carries: one key (sent as a one-element array), or a
/// ready-made RESP payload (a broadcast's array of keys, or the null of a flush).
enum Payload<'a> {
    Key(&'a [u8]),
    Proto(&'a [u8]),
}

/// tracking.c: sendTrackingMessage
///
/// `c` is the client running the current command, if the message is for it (it is
/// out of the client table); any other client is found by id.
fn send_tracking_message(s: &mut Server, c: Option<&mut Client>, target: u64, payload: Payload) {
    let mut current = c;
    let redir = match with_client(s, current.as_deref_mut(), target, |cl| {
        cl.tracking_redirection
    }) {
        Some(r) => r,
        None => return,
    };
    let mut to = target;
    let mut using_redirection = false;
    if redir != 0 {
        if !client_exists(s, current.as_deref(), redir) {
            // Tell the tracking client (if it can hear pushes) that its
            // redirection is gone.
            with_client(s, current.as_deref_mut(), target, |cl| {
                cl.flags |= CLIENT_TRACKING_BROKEN_REDIR;
                if cl.resp > 2 {
                    cl.add_reply_push_len(2);
                    cl.add_reply_bulk(b"tracking-redir-broken");
                    cl.add_reply_long_long(redir as i64);
                }
            });
            return;
        }
        to = redir;
        using_redirection = true;
    }
    with_client(s, current, to, |cl| {
        if cl.resp > 2 {
            cl.add_reply_push_len(2);
            cl.add_reply_bulk(b"invalidate");
        } else if using_redirection && cl.flags & CLIENT_PUBSUB != 0 {
            // A RESP2 connection redirected to: an ordinary message on the channel.
            cl.add_reply_array_len(3);
            cl.add_reply_bulk(b"message");
            cl.add_reply_bulk(b"__redis__:invalidate");
        } else {
            // RESP2 without a subscribed redirection: nothing can be sent.
            return;
        }
        match payload {
            Payload::Proto(p) => cl.add_reply_proto(p),
            Payload::Key(k) => {
                cl.add_reply_array_len(1);
                cl.add_reply_bulk(k);
            }
        }
    });
}

/// Whether a client with this id exists (networking.c: lookupClientByID != NULL).
fn client_exists(s: &Server, current: Option<&Client>, id: u64) -> bool {
    current.is_some_and(|c| c.id == id) || s.lookup_client_by_id(id).is_some()
}

/// Runs `f` on the client with this id: `current` if it is that one, otherwise the
/// client from the table (put back afterwards, so its replies get written).
fn with_client<R>(
    s: &mut Server,
    current: Option<&mut Client>,
    id: u64,
    f: impl FnOnce(&mut Client) -> R,
) -> Option<R> {
    if let Some(c) = current {
        if c.id == id {
            return Some(f(c));
        }
    }
    let token = s.lookup_client_by_id(id)?;
    let mut cl = s.take_client(token)?;
    let r = (cl.id == id).then(|| f(&mut cl));
    s.put_client(cl);
    r
}

/// tracking.c: trackingRememberKeyToBroadcast
fn tracking_remember_key_to_broadcast(s: &mut Server, modifier: Option<u64>, key: &[u8]) {
    for (prefix, bs) in s.tracking.prefixes.iter_mut() {
        if key.starts_with(prefix) {
            bs.keys.insert(Bytes::copy_from_slice(key), modifier);
        }
    }
}

// ANCHOR: tracking_invalidate_key
/// tracking.c: trackingInvalidateKey
///
/// From signalModifiedKey: every client that may cache the key is told, and the
/// key is forgotten until someone reads it again. The client running the command
/// hears it after its own reply (pending keys).
pub fn tracking_invalidate_key(s: &mut Server, key: &[u8], bcast: bool) {
    if s.tracking.clients == 0 && s.tracking.table.is_empty() {
        return;
    }
    let modifier = s.current_client;
    if bcast && !s.tracking.prefixes.is_empty() {
        tracking_remember_key_to_broadcast(s, modifier, key);
    }
    let Some(ids) = s.tracking.table.remove(key) else {
        return;
    };
    s.tracking.total_items -= ids.len() as u64;
    for id in ids {
        if Some(id) == modifier {
            // The client running the command is out of the client table: it hears
            // about its own change after its reply, when its flags (NOLOOP, BCAST)
            // are checked too (tracking_handle_pending_key_invalidations).
            s.tracking
                .pending_keys
                .push(Some(Bytes::copy_from_slice(key)));
            continue;
        }
        let Some(flags) = s
            .lookup_client_by_id(id)
            .and_then(|t| s.clients.get(t.0).and_then(|c| c.as_ref()))
            .map(|c| c.flags)
        else {
            continue;
        };
        // A BCAST client hears about prefixes, not about the keys it read.
        if flags & CLIENT_TRACKING == 0 || flags & CLIENT_TRACKING_BCAST != 0 {
            continue;
        }
        send_tracking_message(s, None, id, Payload::Key(key));
    }
}
// ANCHOR_END: tracking_invalidate_key

/// tracking.c: trackingHandlePendingKeyInvalidations
///
/// After the command of `c` replied: the invalidations of keys it changed itself.
pub fn tracking_handle_pending_key_invalidations(s: &mut Server, c: &mut Client) {
    if s.tracking.pending_keys.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut s.tracking.pending_keys);
    // The checks trackingInvalidateKey makes on other clients, made now that the
    // client is at hand.
    let tracking = c.flags & CLIENT_TRACKING != 0;
    let bcast = c.flags & CLIENT_TRACKING_BCAST != 0;
    let noloop = c.flags & CLIENT_TRACKING_NOLOOP != 0;
    for key in pending {
        match key {
            Some(k) => {
                if !tracking || bcast || noloop {
                    continue;
                }
                let id = c.id;
                send_tracking_message(s, Some(c), id, Payload::Key(&k));
            }
            None => {
                if !tracking {
                    continue;
                }
                let null: &[u8] = if c.resp == 2 { b"$-1\r\n" } else { b"_\r\n" };
                let id = c.id;
                send_tracking_message(s, Some(c), id, Payload::Proto(null));
            }
        }
    }
}

/// tracking.c: trackingInvalidateKeysOnFlush
///
/// FLUSHDB/FLUSHALL: every tracking client is told to drop everything (a null
/// instead of a list of keys), and the table starts afresh.
pub fn tracking_invalidate_keys_on_flush(s: &mut Server) {
    if s.tracking.clients > 0 {
        let current = s.current_client;
        let targets: Vec<(u64, u8)> = s
            .other_clients()
            .filter(|c| c.io.is_some() && c.flags & CLIENT_TRACKING != 0)
            .map(|c| (c.id, c.resp))
            .collect();
        if current.is_some() {
            s.tracking.pending_keys.push(None);
        }
        for (id, resp) in targets {
            if Some(id) == current {
                continue;
            }
            let null: &[u8] = if resp == 2 { b"$-1\r\n" } else { b"_\r\n" };
            send_tracking_message(s, None, id, Payload::Proto(null));
        }
    }
    s.tracking.table.clear();
    s.tracking.total_items = 0;
}

/// tracking.c: trackingLimitUsedSlots
///
/// Keeps the table under tracking-table-max-keys by invalidating keys, a bounded
/// number per call, more when the previous calls could not get under the limit.
pub fn tracking_limit_used_slots(s: &mut Server) {
    let max_keys = s.config.tracking_table_max_keys as usize;
    if max_keys == 0 || s.tracking.table.len() <= max_keys {
        s.tracking.timeout_counter = 0;
        return;
    }
    let mut effort = 100 * (s.tracking.timeout_counter + 1);
    while effort > 0 && !s.tracking.table.is_empty() {
        effort -= 1;
        let n = crate::dict::random_ulong() as usize % s.tracking.table.len();
        let key = s.tracking.table.keys().nth(n).cloned().expect("n < len");
        tracking_invalidate_key(s, &key, false);
        if s.tracking.table.len() <= max_keys {
            s.tracking.timeout_counter = 0;
            return;
        }
    }
    s.tracking.timeout_counter += 1;
}

/// tracking.c: trackingBuildBroadcastReply (None when nothing is left for `c`)
fn tracking_build_broadcast_reply(
    keys: &BTreeMap<Bytes, Option<u64>>,
    except: Option<u64>,
) -> Option<Vec<u8>> {
    let chosen: Vec<&Bytes> = keys
        .iter()
        .filter(|(_, m)| except.is_none() || **m != except)
        .map(|(k, _)| k)
        .collect();
    if except.is_some() && chosen.is_empty() {
        return None;
    }
    let mut proto = format!("*{}\r\n", chosen.len()).into_bytes();
    for k in chosen {
        proto.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        proto.extend_from_slice(k);
        proto.extend_from_slice(b"\r\n");
    }
    Some(proto)
}

/// tracking.c: trackingBroadcastInvalidationMessages
///
/// From beforeSleep: each prefix's keys modified during this cycle go to the
/// prefix's BCAST clients as one message.
pub fn tracking_broadcast_invalidation_messages(s: &mut Server) {
    if s.tracking.clients == 0 {
        return;
    }
    let prefixes: Vec<Bytes> = s.tracking.prefixes.keys().cloned().collect();
    for p in prefixes {
        let Some(bs) = s.tracking.prefixes.get_mut(&p) else {
            continue;
        };
        if bs.keys.is_empty() {
            continue;
        }
        let keys = std::mem::take(&mut bs.keys);
        let clients: Vec<u64> = bs.clients.iter().copied().collect();
        let proto = tracking_build_broadcast_reply(&keys, None).expect("keys present");
        for id in clients {
            let noloop = s
                .lookup_client_by_id(id)
                .and_then(|t| s.clients.get(t.0).and_then(|c| c.as_ref()))
                .is_some_and(|c| c.flags & CLIENT_TRACKING_NOLOOP != 0);
            if noloop {
                if let Some(adhoc) = tracking_build_broadcast_reply(&keys, Some(id)) {
                    send_tracking_message(s, None, id, Payload::Proto(&adhoc));
                }
            } else {
                send_tracking_message(s, None, id, Payload::Proto(&proto));
            }
        }
    }
}

/// Whether `call` should remember the keys a read-only command of `c` read.
pub fn wants_keys_remembered(c: &Client) -> bool {
    c.flags & CLIENT_TRACKING != 0 && c.flags & CLIENT_TRACKING_BCAST == 0
}

/// networking.c: resetClient (the CLIENT CACHING part)
///
/// CACHING yes/no applies to the next command only, or to the next transaction.
pub fn reset_caching_flag(c: &mut Client, prevcmd: Option<&crate::commands::RedisCommand>) {
    let was_client_cmd = prevcmd.is_some_and(|p| p.fullname.split('|').next() == Some("client"));
    if c.flags & CLIENT_MULTI == 0 && !was_client_cmd {
        c.flags &= !CLIENT_TRACKING_CACHING;
    }
}
