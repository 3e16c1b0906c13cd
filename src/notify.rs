//! Port of notify.c: keyspace notifications, published through Pub/Sub from
//! inside the command that caused them.

use bytes::Bytes;

use crate::pubsub::{pubsub_publish_message, PubSubType};
use crate::server::Server;

// Event classes (server.h: NOTIFY_*).
pub const NOTIFY_KEYSPACE: u32 = 1 << 0; // K
pub const NOTIFY_KEYEVENT: u32 = 1 << 1; // E
pub const NOTIFY_GENERIC: u32 = 1 << 2; // g
pub const NOTIFY_STRING: u32 = 1 << 3; // $
pub const NOTIFY_LIST: u32 = 1 << 4; // l
pub const NOTIFY_SET: u32 = 1 << 5; // s
pub const NOTIFY_HASH: u32 = 1 << 6; // h
pub const NOTIFY_ZSET: u32 = 1 << 7; // z
pub const NOTIFY_EXPIRED: u32 = 1 << 8; // x
pub const NOTIFY_EVICTED: u32 = 1 << 9; // e
pub const NOTIFY_STREAM: u32 = 1 << 10; // t
/// Left out of `A` on purpose: key misses are frequent and rarely wanted.
pub const NOTIFY_KEY_MISS: u32 = 1 << 11; // m
pub const NOTIFY_LOADED: u32 = 1 << 12;
pub const NOTIFY_MODULE: u32 = 1 << 13; // d
pub const NOTIFY_NEW: u32 = 1 << 14; // n
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

/// notify.c: keyspaceEventsStringToFlags (None for an unknown class character)
pub fn keyspace_events_string_to_flags(classes: &str) -> Option<u32> {
    let mut flags = 0;
    for ch in classes.chars() {
        flags |= match ch {
            'A' => NOTIFY_ALL,
            'g' => NOTIFY_GENERIC,
            '$' => NOTIFY_STRING,
            'l' => NOTIFY_LIST,
            's' => NOTIFY_SET,
            'h' => NOTIFY_HASH,
            'z' => NOTIFY_ZSET,
            'x' => NOTIFY_EXPIRED,
            'e' => NOTIFY_EVICTED,
            'K' => NOTIFY_KEYSPACE,
            'E' => NOTIFY_KEYEVENT,
            't' => NOTIFY_STREAM,
            'm' => NOTIFY_KEY_MISS,
            'd' => NOTIFY_MODULE,
            'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// notify.c: keyspaceEventsFlagsToString
pub fn keyspace_events_flags_to_string(flags: u32) -> String {
    let mut res = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        res.push('A');
    } else {
        for (flag, ch) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if flags & flag != 0 {
                res.push(ch);
            }
        }
    }
    for (flag, ch) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if flags & flag != 0 {
            res.push(ch);
        }
    }
    res
}

// ANCHOR: notify_keyspace_event
/// notify.c: notifyKeyspaceEvent
///
/// Publishes `event` on `__keyspace@<db>__:<key>` and the key on
/// `__keyevent@<db>__:<event>`, as configured. Commands call it after their change
/// and before their reply, so a subscriber sees events in command order, and only
/// for changes that happened.
pub fn notify_keyspace_event(s: &mut Server, type_: u32, event: &str, key: &[u8], dbid: usize) {
    let flags = s.config.notify_keyspace_events;
    if flags & type_ == 0 {
        return;
    }
    let event = Bytes::copy_from_slice(event.as_bytes());
    let key = Bytes::copy_from_slice(key);
    if flags & NOTIFY_KEYSPACE != 0 {
        let mut chan = format!("__keyspace@{dbid}__:").into_bytes();
        chan.extend_from_slice(&key);
        pubsub_publish_message(s, None, &Bytes::from(chan), &event, PubSubType::Global);
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        let mut chan = format!("__keyevent@{dbid}__:").into_bytes();
        chan.extend_from_slice(&event);
        pubsub_publish_message(s, None, &Bytes::from(chan), &key, PubSubType::Global);
    }
}
// ANCHOR_END: notify_keyspace_event
