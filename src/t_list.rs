//! Port of t_list.c: the list type and its commands, blocking pops included.
//!
//! Redis 7.0 stores every list as a quicklist (a linked list of listpack nodes):
//! `createQuicklistObject` is the only constructor and OBJECT ENCODING always answers
//! "quicklist"; the compact listpack encoding for small lists only arrived in 7.2.
//! The node size (`list-max-listpack-size`) and compression depth are invisible to
//! clients, so the elements are kept in one `VecDeque`, which gives the same O(1)
//! pushes and pops at both ends.

use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC, NOTIFY_LIST};
use crate::object::wrongtype;
use std::collections::VecDeque;

use bytes::Bytes;

use crate::blocked::{self, BlockedType};
use crate::db;
use crate::networking::{Client, CLIENT_DENY_BLOCKING};
use crate::object::{create_string_object, initial_lru, RObj, Value};
use crate::resp::{add_reply_error, add_reply_error_arity, shared};
use crate::server::{also_propagate, Server};

/// server.h: LIST_HEAD
pub const LIST_HEAD: u8 = 0;
/// server.h: LIST_TAIL
pub const LIST_TAIL: u8 = 1;

/// The empty array every RESP version spells the same (server.c: shared.emptyarray).
const EMPTYARRAY: &[u8] = b"*0\r\n";

/// A list value (server.h: OBJ_LIST with OBJ_ENCODING_QUICKLIST).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    pub elements: VecDeque<Bytes>,
}

impl List {
    /// object.c: strEncoding, for this type (always a quicklist in 7.0)
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        // A quicklist spends a few bytes of listpack header per element; the payload
        // dominates.
        self.elements.iter().map(|e| e.len() + 2).sum::<usize>()
            + self.elements.capacity() * std::mem::size_of::<Bytes>()
    }

    /// t_list.c: listTypeLength
    #[inline]
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// t_list.c: listTypePush
    pub fn push(&mut self, value: Bytes, where_: u8) {
        if where_ == LIST_HEAD {
            self.elements.push_front(value);
        } else {
            self.elements.push_back(value);
        }
    }

    /// t_list.c: listTypePop
    pub fn pop(&mut self, where_: u8) -> Option<Bytes> {
        if where_ == LIST_HEAD {
            self.elements.pop_front()
        } else {
            self.elements.pop_back()
        }
    }

    /// quicklist.c: quicklistGetIteratorAtIdx's index rule: negative counts from
    /// the tail. None when out of range.
    pub fn resolve_index(&self, index: i64) -> Option<usize> {
        let len = self.elements.len() as i64;
        let i = if index < 0 { len + index } else { index };
        if i < 0 || i >= len {
            None
        } else {
            Some(i as usize)
        }
    }

    /// t_list.c: listTypeDelRange (start may be negative; count elements go)
    pub fn del_range(&mut self, start: i64, count: i64) {
        let len = self.elements.len() as i64;
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        if count <= 0 || start >= len {
            return;
        }
        let end = (start + count).min(len);
        self.elements.drain(start as usize..end as usize);
    }
}

/// object.c: createQuicklistObject
pub fn create_quicklist_object(s: &Server) -> RObj {
    RObj {
        lru: initial_lru(s),
        shared: false,
        ptr: Value::List(Box::default()),
    }
}

/// What a lookup found: the list, nothing, or another type (checkType's error).
type ListLookup<'a> = Result<Option<&'a mut List>, ()>;

/// db.c: lookupKeyWrite (or Read) followed by server.c: checkType for OBJ_LIST.
fn lookup_list<'a>(s: &'a mut Server, dbid: usize, key: &[u8], write: bool) -> ListLookup<'a> {
    let o = if write {
        db::lookup_key_write(s, dbid, key)
    } else {
        db::lookup_key_read(s, dbid, key)
    };
    match o {
        None => Ok(None),
        Some(RObj {
            ptr: Value::List(l),
            ..
        }) => Ok(Some(&mut **l)),
        Some(_) => Err(()),
    }
}

/// The list stored at `key`, without expiry checks or statistics: for code that
/// already looked the key up in this command.
fn list_at<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> Option<&'a mut List> {
    match s.db[dbid].dict.find(key).map(|e| &mut e.val.ptr) {
        Some(Value::List(l)) => Some(&mut **l),
        _ => None,
    }
}

/// object.c: getLongFromObjectOrReply (argv[idx], a 64-bit long)
fn get_long_or_reply(s: &mut Server, c: &mut Client, idx: usize, msg: Option<&str>) -> Option<i64> {
    match crate::util::string2ll(&c.argv[idx]) {
        Some(v) => Some(v),
        None => {
            add_reply_error(s, c, msg.unwrap_or(shared::NOTINTEGERERR));
            None
        }
    }
}

/// object.c: getRangeLongFromObjectOrReply
fn get_range_long_or_reply(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    min: i64,
    max: i64,
    msg: Option<&str>,
) -> Option<i64> {
    let v = get_long_or_reply(s, c, idx, msg)?;
    if v < min || v > max {
        let text = format!("value is out of range, value must between {min} and {max}");
        add_reply_error(s, c, msg.unwrap_or(&text));
        return None;
    }
    Some(v)
}

/// object.c: getPositiveLongFromObjectOrReply
fn get_positive_long_or_reply(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    msg: Option<&str>,
) -> Option<i64> {
    let msg = msg.unwrap_or("value is out of range, must be positive");
    get_range_long_or_reply(s, c, idx, 0, i64::MAX, Some(msg))
}

// ANCHOR: push_generic_command
/// t_list.c: pushGenericCommand
///
/// LPUSH/RPUSH and their X forms. Every element is pushed before anything else
/// runs: a client blocked on the key is served only after this whole command
/// (the key is signalled ready by db_add, served after `call`).
pub fn push_generic_command(s: &mut Server, c: &mut Client, where_: u8, xx: bool) {
    let key = c.argv[1].clone();
    let dbid = c.db;
    let created = match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(Some(_)) => false,
        Ok(None) if xx => {
            c.add_reply(shared::CZERO);
            return;
        }
        Ok(None) => true,
    };
    if created {
        let o = create_quicklist_object(s);
        db::db_add(s, dbid, create_string_object(&key), o);
    }
    let l = list_at(s, dbid, &key).expect("the list exists");
    for j in 2..c.argv.len() {
        l.push(create_string_object(&c.argv[j]), where_);
    }
    let len = l.len() as i64;
    s.dirty += (c.argv.len() - 2) as u64;
    c.add_reply_long_long(len);
    db::signal_modified_key(s, dbid, &key);
    notify_keyspace_event(s, NOTIFY_LIST, push_event(where_), &key, dbid);
}
// ANCHOR_END: push_generic_command

/// t_list.c: lpushCommand
pub fn lpush_command(s: &mut Server, c: &mut Client) {
    push_generic_command(s, c, LIST_HEAD, false);
}

/// t_list.c: rpushCommand
pub fn rpush_command(s: &mut Server, c: &mut Client) {
    push_generic_command(s, c, LIST_TAIL, false);
}

/// t_list.c: lpushxCommand
pub fn lpushx_command(s: &mut Server, c: &mut Client) {
    push_generic_command(s, c, LIST_HEAD, true);
}

/// t_list.c: rpushxCommand
pub fn rpushx_command(s: &mut Server, c: &mut Client) {
    push_generic_command(s, c, LIST_TAIL, true);
}

/// t_list.c: linsertCommand
pub fn linsert_command(s: &mut Server, c: &mut Client) {
    let after = if c.argv[2].eq_ignore_ascii_case(b"after") {
        true
    } else if c.argv[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    };
    let key = c.argv[1].clone();
    let dbid = c.db;
    let l = match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => {
            c.add_reply(shared::CZERO);
            return;
        }
        Ok(Some(l)) => l,
    };
    let Some(pos) = l.elements.iter().position(|e| e[..] == c.argv[3][..]) else {
        c.add_reply_long_long(-1);
        return;
    };
    let at = if after { pos + 1 } else { pos };
    l.elements.insert(at, create_string_object(&c.argv[4]));
    let len = l.len() as i64;
    db::signal_modified_key(s, dbid, &key);
    notify_keyspace_event(s, NOTIFY_LIST, "linsert", &key, dbid);
    s.dirty += 1;
    c.add_reply_long_long(len);
}

/// t_list.c: llenCommand
pub fn llen_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_list(s, c.db, &key, false) {
        Err(()) => wrongtype(s, c),
        Ok(None) => c.add_reply(shared::CZERO),
        Ok(Some(l)) => {
            let n = l.len() as i64;
            c.add_reply_long_long(n)
        }
    }
}

/// t_list.c: lindexCommand
pub fn lindex_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let dbid = c.db;
    match lookup_list(s, dbid, &key, false) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => return c.add_reply_null(),
        Ok(Some(_)) => {}
    }
    let Some(index) = get_long_or_reply(s, c, 2, None) else {
        return;
    };
    let l = list_at(s, dbid, &key).expect("the list exists");
    match l.resolve_index(index) {
        Some(i) => c.add_reply_bulk(&l.elements[i]),
        None => c.add_reply_null(),
    }
}

/// t_list.c: lsetCommand
pub fn lset_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let dbid = c.db;
    match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => return add_reply_error(s, c, shared::NOKEYERR),
        Ok(Some(_)) => {}
    }
    let Some(index) = get_long_or_reply(s, c, 2, None) else {
        return;
    };
    let value = create_string_object(&c.argv[3]);
    let l = list_at(s, dbid, &key).expect("the list exists");
    match l.resolve_index(index) {
        Some(i) => {
            l.elements[i] = value;
            c.add_reply(shared::OK);
            db::signal_modified_key(s, dbid, &key);
            notify_keyspace_event(s, NOTIFY_LIST, "lset", &key, dbid);
            s.dirty += 1;
        }
        None => add_reply_error(s, c, shared::OUTOFRANGEERR),
    }
}

/// t_list.c: addListRangeReply
///
/// start and end are inclusive and may be negative; `reverse` replies from end
/// to start.
fn add_list_range_reply(c: &mut Client, l: &List, start: i64, end: i64, reverse: bool) {
    let llen = l.len() as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        c.add_reply(EMPTYARRAY);
        return;
    }
    if end >= llen {
        end = llen - 1;
    }
    let rangelen = (end - start + 1) as usize;
    c.add_reply_array_len(rangelen);
    let range = l.elements.range(start as usize..=end as usize);
    if reverse {
        for e in range.rev() {
            c.add_reply_bulk(e);
        }
    } else {
        for e in range {
            c.add_reply_bulk(e);
        }
    }
}

/// t_list.c: listElementsRemoved
///
/// After a pop: delete the key once the list is empty, signal the change, count
/// the removed elements as changes. Returns true if the key was deleted.
fn list_elements_removed(s: &mut Server, dbid: usize, key: &[u8], where_: u8, count: i64) -> bool {
    notify_keyspace_event(s, NOTIFY_LIST, pop_event(where_), key, dbid);
    let empty = list_at(s, dbid, key).is_none_or(|l| l.is_empty());
    if empty {
        db::db_delete(s, dbid, key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", key, dbid);
    }
    db::signal_modified_key(s, dbid, key);
    s.dirty += count as u64;
    empty
}

/// t_list.c: listPopRangeAndReplyWithKey
///
/// Pops up to `count` elements and replies `[key, [elements...]]`, as LMPOP does.
/// Returns true if the key was deleted.
fn list_pop_range_and_reply_with_key(
    s: &mut Server,
    c: &mut Client,
    dbid: usize,
    key: &Bytes,
    where_: u8,
    count: i64,
) -> bool {
    let l = list_at(s, dbid, key).expect("the list exists");
    let llen = l.len() as i64;
    let rangelen = count.min(llen);
    let (rangestart, rangeend) = if where_ == LIST_HEAD {
        (0, rangelen - 1)
    } else {
        (-rangelen, -1)
    };
    c.add_reply_array_len(2);
    c.add_reply_bulk(key);
    add_list_range_reply(c, l, rangestart, rangeend, where_ == LIST_TAIL);
    l.del_range(rangestart, rangelen);
    list_elements_removed(s, dbid, key, where_, rangelen)
}

/// t_list.c: popGenericCommand
pub fn pop_generic_command(s: &mut Server, c: &mut Client, where_: u8) {
    let hascount = c.argv.len() == 3;
    let mut count = 0;
    if c.argv.len() > 3 {
        add_reply_error_arity(s, c);
        return;
    } else if hascount {
        match get_positive_long_or_reply(s, c, 2, None) {
            Some(v) => count = v,
            None => return,
        }
    }
    let key = c.argv[1].clone();
    let dbid = c.db;
    let l = match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => {
            if hascount {
                c.add_reply_null_array();
            } else {
                c.add_reply_null();
            }
            return;
        }
        Ok(Some(l)) => l,
    };
    if hascount && count == 0 {
        c.add_reply(EMPTYARRAY);
        return;
    }
    if !hascount {
        let v = l
            .pop(where_)
            .expect("lists in the keyspace are never empty");
        c.add_reply_bulk(&v);
        list_elements_removed(s, dbid, &key, where_, 1);
    } else {
        let llen = l.len() as i64;
        let rangelen = count.min(llen);
        let (rangestart, rangeend) = if where_ == LIST_HEAD {
            (0, rangelen - 1)
        } else {
            (-rangelen, -1)
        };
        add_list_range_reply(c, l, rangestart, rangeend, where_ == LIST_TAIL);
        l.del_range(rangestart, rangelen);
        list_elements_removed(s, dbid, &key, where_, rangelen);
    }
}

/// The keyspace event of a push on this side.
fn push_event(where_: u8) -> &'static str {
    if where_ == LIST_HEAD {
        "lpush"
    } else {
        "rpush"
    }
}

/// The keyspace event of a pop from this side.
fn pop_event(where_: u8) -> &'static str {
    if where_ == LIST_HEAD {
        "lpop"
    } else {
        "rpop"
    }
}

/// The [LR]POP command name for a side (server.c: shared.lpop / shared.rpop).
fn pop_command_name(where_: u8) -> Bytes {
    Bytes::from_static(if where_ == LIST_HEAD {
        b"LPOP"
    } else {
        b"RPOP"
    })
}

/// t_list.c: mpopGenericCommand
///
/// Pops from the first non-empty list among `keys`; propagated as [LR]POP key count.
fn mpop_generic_command(s: &mut Server, c: &mut Client, keys: &[Bytes], where_: u8, count: i64) {
    let dbid = c.db;
    for key in keys {
        let llen = match lookup_list(s, dbid, key, true) {
            Err(()) => return wrongtype(s, c),
            Ok(None) => continue,
            Ok(Some(l)) => l.len() as i64,
        };
        if llen == 0 {
            continue;
        }
        list_pop_range_and_reply_with_key(s, c, dbid, key, where_, count);
        s.propagate_argv = Some(vec![
            pop_command_name(where_),
            key.clone(),
            Bytes::from(count.min(llen).to_string()),
        ]);
        return;
    }
    c.add_reply_null_array();
}

/// t_list.c: lpopCommand
pub fn lpop_command(s: &mut Server, c: &mut Client) {
    pop_generic_command(s, c, LIST_HEAD);
}

/// t_list.c: rpopCommand
pub fn rpop_command(s: &mut Server, c: &mut Client) {
    pop_generic_command(s, c, LIST_TAIL);
}

/// t_list.c: lrangeCommand
pub fn lrange_command(s: &mut Server, c: &mut Client) {
    let Some(start) = get_long_or_reply(s, c, 2, None) else {
        return;
    };
    let Some(end) = get_long_or_reply(s, c, 3, None) else {
        return;
    };
    let key = c.argv[1].clone();
    match lookup_list(s, c.db, &key, false) {
        Err(()) => wrongtype(s, c),
        Ok(None) => c.add_reply(EMPTYARRAY),
        Ok(Some(l)) => add_list_range_reply(c, l, start, end, false),
    }
}

/// t_list.c: ltrimCommand
pub fn ltrim_command(s: &mut Server, c: &mut Client) {
    let Some(start) = get_long_or_reply(s, c, 2, None) else {
        return;
    };
    let Some(end) = get_long_or_reply(s, c, 3, None) else {
        return;
    };
    let key = c.argv[1].clone();
    let dbid = c.db;
    let l = match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => {
            c.add_reply(shared::OK);
            return;
        }
        Ok(Some(l)) => l,
    };
    let llen = l.len() as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    let (ltrim, rtrim) = if start > end || start >= llen {
        (llen, 0)
    } else {
        if end >= llen {
            end = llen - 1;
        }
        (start, llen - end - 1)
    };
    l.del_range(0, ltrim);
    l.del_range(-rtrim, rtrim);
    let empty = l.is_empty();
    notify_keyspace_event(s, NOTIFY_LIST, "ltrim", &key, dbid);
    if empty {
        db::db_delete(s, dbid, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, dbid);
    }
    db::signal_modified_key(s, dbid, &key);
    s.dirty += (ltrim + rtrim) as u64;
    c.add_reply(shared::OK);
}

/// t_list.c: lposCommand
pub fn lpos_command(s: &mut Server, c: &mut Client) {
    let mut rank: i64 = 1;
    let mut count: i64 = -1; // -1: no COUNT option
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < c.argv.len() {
        let moreargs = c.argv.len() - 1 - j > 0;
        let opt = c.argv[j].clone();
        if opt.eq_ignore_ascii_case(b"rank") && moreargs {
            j += 1;
            let Some(r) = get_long_or_reply(s, c, j, None) else {
                return;
            };
            if r == 0 {
                add_reply_error(
                    s,
                    c,
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                );
                return;
            }
            rank = r;
        } else if opt.eq_ignore_ascii_case(b"count") && moreargs {
            j += 1;
            let Some(v) = get_positive_long_or_reply(s, c, j, Some("COUNT can't be negative"))
            else {
                return;
            };
            count = v;
        } else if opt.eq_ignore_ascii_case(b"maxlen") && moreargs {
            j += 1;
            let Some(v) = get_positive_long_or_reply(s, c, j, Some("MAXLEN can't be negative"))
            else {
                return;
            };
            maxlen = v;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }
    // A negative rank searches from the tail. Negating i64::MIN wraps to itself in
    // Redis: every match then qualifies; the arithmetic below wraps the same way.
    let from_tail = rank < 0;
    let rank = if rank < 0 { rank.wrapping_neg() } else { rank };
    let key = c.argv[1].clone();
    let l = match lookup_list(s, c.db, &key, false) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => {
            if count != -1 {
                c.add_reply(EMPTYARRAY);
            } else {
                c.add_reply_null();
            }
            return;
        }
        Ok(Some(l)) => l,
    };
    let ele = &c.argv[2];
    let llen = l.len();
    let mut matches: i64 = 0;
    let mut found: Vec<i64> = Vec::new();
    let mut single: Option<i64> = None;
    for index in 0..llen {
        if maxlen != 0 && index as i64 >= maxlen {
            break;
        }
        let pos = if from_tail { llen - index - 1 } else { index };
        if l.elements[pos][..] != ele[..] {
            continue;
        }
        matches += 1;
        if matches >= rank {
            if count != -1 {
                found.push(pos as i64);
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            } else {
                single = Some(pos as i64);
                break;
            }
        }
    }
    if count != -1 {
        c.add_reply_array_len(found.len());
        for p in found {
            c.add_reply_long_long(p);
        }
    } else {
        match single {
            Some(p) => c.add_reply_long_long(p),
            None => c.add_reply_null(),
        }
    }
}

/// t_list.c: lremCommand
pub fn lrem_command(s: &mut Server, c: &mut Client) {
    let Some(toremove) = get_long_or_reply(s, c, 2, None) else {
        return;
    };
    let key = c.argv[1].clone();
    let dbid = c.db;
    let l = match lookup_list(s, dbid, &key, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => {
            c.add_reply(shared::CZERO);
            return;
        }
        Ok(Some(l)) => l,
    };
    let obj = &c.argv[3];
    let limit = toremove.unsigned_abs();
    let mut removed: u64 = 0;
    if toremove < 0 {
        let mut i = l.len();
        while i > 0 {
            i -= 1;
            if l.elements[i][..] == obj[..] {
                l.elements.remove(i);
                removed += 1;
                if removed == limit {
                    break;
                }
            }
        }
    } else {
        let mut i = 0;
        while i < l.len() {
            if l.elements[i][..] == obj[..] {
                l.elements.remove(i);
                removed += 1;
                if limit != 0 && removed == limit {
                    break;
                }
            } else {
                i += 1;
            }
        }
    }
    let empty = l.is_empty();
    s.dirty += removed;
    if removed > 0 {
        db::signal_modified_key(s, dbid, &key);
        notify_keyspace_event(s, NOTIFY_LIST, "lrem", &key, dbid);
    }
    if empty {
        db::db_delete(s, dbid, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, dbid);
    }
    c.add_reply_long_long(removed as i64);
}

/// t_list.c: lmoveHandlePush
///
/// Pushes the moved element on the destination (creating the list, which signals
/// it ready for its own waiters) and replies with the element.
pub fn lmove_handle_push(
    s: &mut Server,
    c: &mut Client,
    dbid: usize,
    dstkey: &Bytes,
    value: Bytes,
    where_: u8,
) {
    if list_at(s, dbid, dstkey).is_none() {
        let o = create_quicklist_object(s);
        db::db_add(s, dbid, create_string_object(dstkey), o);
    }
    db::signal_modified_key(s, dbid, dstkey);
    c.add_reply_bulk(&value);
    list_at(s, dbid, dstkey)
        .expect("the list exists")
        .push(value, where_);
    notify_keyspace_event(s, NOTIFY_LIST, push_event(where_), dstkey, dbid);
}

/// t_list.c: getListPositionFromObjectOrReply
fn get_list_position_or_reply(s: &mut Server, c: &mut Client, idx: usize) -> Option<u8> {
    if c.argv[idx].eq_ignore_ascii_case(b"right") {
        Some(LIST_TAIL)
    } else if c.argv[idx].eq_ignore_ascii_case(b"left") {
        Some(LIST_HEAD)
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        None
    }
}

/// t_list.c: getStringObjectFromListPosition
fn list_position_name(where_: u8) -> Bytes {
    Bytes::from_static(if where_ == LIST_HEAD {
        b"LEFT"
    } else {
        b"RIGHT"
    })
}

// ANCHOR: lmove_generic_command
/// t_list.c: lmoveGenericCommand
fn lmove_generic_command(s: &mut Server, c: &mut Client, wherefrom: u8, whereto: u8) {
    let src = c.argv[1].clone();
    let dst = c.argv[2].clone();
    let dbid = c.db;
    match lookup_list(s, dbid, &src, true) {
        Err(()) => return wrongtype(s, c),
        Ok(None) => return c.add_reply_null(),
        Ok(Some(l)) if l.is_empty() => return c.add_reply_null(),
        Ok(Some(_)) => {}
    }
    if lookup_list(s, dbid, &dst, true).is_err() {
        return wrongtype(s, c);
    }
    let value = list_at(s, dbid, &src)
        .and_then(|l| l.pop(wherefrom))
        .expect("the source list is not empty");
    lmove_handle_push(s, c, dbid, &dst, value, whereto);
    notify_keyspace_event(s, NOTIFY_LIST, pop_event(wherefrom), &src, dbid);
    if list_at(s, dbid, &src).is_none_or(|l| l.is_empty()) {
        db::db_delete(s, dbid, &src);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &src, dbid);
    }
    db::signal_modified_key(s, dbid, &src);
    s.dirty += 1;
    // The blocking forms that found data are propagated as their plain forms.
    let name = c.cmd.map(|x| x.fullname).unwrap_or("");
    if name == "blmove" {
        s.propagate_argv = Some(vec![
            Bytes::from_static(b"LMOVE"),
            src,
            dst,
            c.argv[3].clone(),
            c.argv[4].clone(),
        ]);
    } else if name == "brpoplpush" {
        s.propagate_argv = Some(vec![Bytes::from_static(b"RPOPLPUSH"), src, dst]);
    }
}
// ANCHOR_END: lmove_generic_command

/// t_list.c: lmoveCommand
pub fn lmove_command(s: &mut Server, c: &mut Client) {
    let Some(wherefrom) = get_list_position_or_reply(s, c, 3) else {
        return;
    };
    let Some(whereto) = get_list_position_or_reply(s, c, 4) else {
        return;
    };
    lmove_generic_command(s, c, wherefrom, whereto);
}

/// t_list.c: rpoplpushCommand
pub fn rpoplpush_command(s: &mut Server, c: &mut Client) {
    lmove_generic_command(s, c, LIST_TAIL, LIST_HEAD);
}

// ANCHOR: serve_client_blocked_on_list
/// t_list.c: serveClientBlockedOnList
///
/// Serves one waiter from the list at `key`, which is not empty: pops for it (and
/// pushes on its destination for BLMOVE), replies, and hands the plain form of
/// what it did (LPOP/RPOP [count], LMOVE, RPOPLPUSH) to propagation. Returns true
/// if the source list became empty and was deleted.
pub fn serve_client_blocked_on_list(
    s: &mut Server,
    receiver: &mut Client,
    dbid: usize,
    key: &Bytes,
) -> bool {
    let bpop = &receiver.bpop;
    let (wherefrom, whereto, count) = (bpop.wherefrom, bpop.whereto, bpop.count);
    let target = bpop.target.clone();
    let lastcmd = receiver.lastcmd.map(|x| x.fullname).unwrap_or("");
    match target {
        None if lastcmd == "blmpop" => {
            let llen = list_at(s, dbid, key).map_or(0, |l| l.len() as i64);
            also_propagate(
                s,
                dbid,
                vec![
                    pop_command_name(wherefrom),
                    key.clone(),
                    Bytes::from(count.min(llen).to_string()),
                ],
            );
            return list_pop_range_and_reply_with_key(s, receiver, dbid, key, wherefrom, count);
        }
        None => {
            also_propagate(s, dbid, vec![pop_command_name(wherefrom), key.clone()]);
            let value = list_at(s, dbid, key)
                .and_then(|l| l.pop(wherefrom))
                .expect("a ready list is not empty");
            receiver.add_reply_array_len(2);
            receiver.add_reply_bulk(key);
            receiver.add_reply_bulk(&value);
            notify_keyspace_event(s, NOTIFY_LIST, pop_event(wherefrom), key, dbid);
        }
        Some(dst) => {
            // A destination of another type fails this waiter only; the element
            // stays for the next one.
            if lookup_list(s, dbid, &dst, true).is_err() {
                add_reply_error(s, receiver, shared::WRONGTYPEERR);
            } else {
                let value = list_at(s, dbid, key)
                    .and_then(|l| l.pop(wherefrom))
                    .expect("a ready list is not empty");
                lmove_handle_push(s, receiver, dbid, &dst, value, whereto);
                let argv = if lastcmd == "brpoplpush" {
                    vec![Bytes::from_static(b"RPOPLPUSH"), key.clone(), dst]
                } else {
                    vec![
                        Bytes::from_static(b"LMOVE"),
                        key.clone(),
                        dst,
                        list_position_name(wherefrom),
                        list_position_name(whereto),
                    ]
                };
                also_propagate(s, dbid, argv);
                // (The push side was notified by lmove_handle_push.)
                notify_keyspace_event(s, NOTIFY_LIST, pop_event(wherefrom), key, dbid);
            }
        }
    }
    if list_at(s, dbid, key).is_none_or(|l| l.is_empty()) {
        db::db_delete(s, dbid, key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", key, dbid);
        return true;
    }
    false
}
// ANCHOR_END: serve_client_blocked_on_list

// ANCHOR: blocking_pop_generic_command
/// t_list.c: blockingPopGenericCommand
///
/// BLPOP/BRPOP/BLMPOP: if one of the keys holds a list, this is a plain pop
/// (propagated as one); otherwise the client blocks on all the keys, unless it may
/// not block (inside EXEC or a script), where it times out at once.
fn blocking_pop_generic_command(
    s: &mut Server,
    c: &mut Client,
    keys: &[Bytes],
    where_: u8,
    timeout_idx: usize,
    count: i64,
) {
    let Some(timeout) = crate::timeout::get_timeout_from_object_or_reply(s, c, timeout_idx) else {
        return;
    };
    let dbid = c.db;
    for key in keys {
        let llen = match lookup_list(s, dbid, key, true) {
            Err(()) => return wrongtype(s, c),
            Ok(None) => continue,
            Ok(Some(l)) => l.len() as i64,
        };
        if llen == 0 {
            continue;
        }
        if count != -1 {
            list_pop_range_and_reply_with_key(s, c, dbid, key, where_, count);
            s.propagate_argv = Some(vec![
                pop_command_name(where_),
                key.clone(),
                Bytes::from(count.min(llen).to_string()),
            ]);
            return;
        }
        let value = list_at(s, dbid, key)
            .and_then(|l| l.pop(where_))
            .expect("the list is not empty");
        c.add_reply_array_len(2);
        c.add_reply_bulk(key);
        c.add_reply_bulk(&value);
        list_elements_removed(s, dbid, key, where_, 1);
        s.propagate_argv = Some(vec![pop_command_name(where_), key.clone()]);
        return;
    }
    if c.flags & CLIENT_DENY_BLOCKING != 0 {
        c.add_reply_null_array();
        return;
    }
    let pos = blocked::BlockPos {
        wherefrom: where_,
        whereto: 0,
    };
    blocked::block_for_keys(s, c, BlockedType::List, keys, count, timeout, None, pos);
}
// ANCHOR_END: blocking_pop_generic_command

/// The keys of BLPOP/BRPOP: everything between the command name and the timeout.
fn blpop_keys(c: &Client) -> Vec<Bytes> {
    c.argv[1..c.argv.len() - 1].to_vec()
}

/// t_list.c: blpopCommand
pub fn blpop_command(s: &mut Server, c: &mut Client) {
    let keys = blpop_keys(c);
    let idx = c.argv.len() - 1;
    blocking_pop_generic_command(s, c, &keys, LIST_HEAD, idx, -1);
}

/// t_list.c: brpopCommand
pub fn brpop_command(s: &mut Server, c: &mut Client) {
    let keys = blpop_keys(c);
    let idx = c.argv.len() - 1;
    blocking_pop_generic_command(s, c, &keys, LIST_TAIL, idx, -1);
}

/// t_list.c: blmoveGenericCommand
fn blmove_generic_command(
    s: &mut Server,
    c: &mut Client,
    wherefrom: u8,
    whereto: u8,
    timeout: i64,
) {
    let src = c.argv[1].clone();
    match lookup_list(s, c.db, &src, true) {
        Err(()) => wrongtype(s, c),
        Ok(None) if c.flags & CLIENT_DENY_BLOCKING != 0 => c.add_reply_null(),
        Ok(None) => {
            let target = Some(c.argv[2].clone());
            let pos = blocked::BlockPos { wherefrom, whereto };
            blocked::block_for_keys(s, c, BlockedType::List, &[src], -1, timeout, target, pos);
        }
        Ok(Some(_)) => lmove_generic_command(s, c, wherefrom, whereto),
    }
}

/// t_list.c: blmoveCommand
pub fn blmove_command(s: &mut Server, c: &mut Client) {
    let Some(wherefrom) = get_list_position_or_reply(s, c, 3) else {
        return;
    };
    let Some(whereto) = get_list_position_or_reply(s, c, 4) else {
        return;
    };
    let Some(timeout) = crate::timeout::get_timeout_from_object_or_reply(s, c, 5) else {
        return;
    };
    blmove_generic_command(s, c, wherefrom, whereto, timeout);
}

/// t_list.c: brpoplpushCommand
pub fn brpoplpush_command(s: &mut Server, c: &mut Client) {
    let Some(timeout) = crate::timeout::get_timeout_from_object_or_reply(s, c, 3) else {
        return;
    };
    blmove_generic_command(s, c, LIST_TAIL, LIST_HEAD, timeout);
}

/// t_list.c: lmpopGenericCommand
fn lmpop_generic_command(s: &mut Server, c: &mut Client, numkeys_idx: usize, is_block: bool) {
    let Some(numkeys) = get_range_long_or_reply(
        s,
        c,
        numkeys_idx,
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    ) else {
        return;
    };
    let where_idx = (numkeys_idx as i64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= c.argv.len() as i64 {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    let where_idx = where_idx as usize;
    let Some(where_) = get_list_position_or_reply(s, c, where_idx) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < c.argv.len() {
        let moreargs = c.argv.len() - 1 - j > 0;
        if count == -1 && c.argv[j].eq_ignore_ascii_case(b"count") && moreargs {
            j += 1;
            match get_range_long_or_reply(
                s,
                c,
                j,
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            ) {
                Some(v) => count = v,
                None => return,
            }
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    let keys = c.argv[numkeys_idx + 1..where_idx].to_vec();
    if is_block {
        blocking_pop_generic_command(s, c, &keys, where_, 1, count);
    } else {
        mpop_generic_command(s, c, &keys, where_, count);
    }
}

/// t_list.c: lmpopCommand
pub fn lmpop_command(s: &mut Server, c: &mut Client) {
    lmpop_generic_command(s, c, 1, false);
}

/// t_list.c: blmpopCommand
pub fn blmpop_command(s: &mut Server, c: &mut Client) {
    lmpop_generic_command(s, c, 2, true);
}
