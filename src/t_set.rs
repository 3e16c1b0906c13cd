//! Port of t_set.c: the set type, its two encodings and its commands.
//!
//! Redis 7.0 has two set encodings (the listpack set came in 7.2). A set whose
//! members are all integers is an `intset`: a sorted array of 64-bit integers,
//! searched by bisection, which is why SMEMBERS of such a set comes back sorted.
//! The first member that is not the canonical text of an integer, or one member
//! too many for `set-max-intset-entries`, turns it into a `hashtable` (our
//! dict.rs) for good.

use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC, NOTIFY_SET};
use crate::object::{lookup_key_typed, wrongtype, Found};
use bytes::Bytes;

use crate::db;
use crate::dict::DictKey;
use crate::dict::{random_ulong, Dict};
use crate::intset::Intset;
use crate::networking::Client;
use crate::object::{create_string_object, RObj, Value};
use crate::resp::{add_reply_error, shared};
use crate::server::Server;
use crate::util::string2ll;

/// t_set.c: SPOP_MOVE_STRATEGY_MUL
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// t_set.c: SRANDMEMBER_SUB_STRATEGY_MUL
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;
/// t_set.c: setTypeAdd's cap on set-max-intset-entries (intset internals)
const INTSET_MAX_ENTRIES: usize = 1 << 30;

// ANCHOR: set_type
/// A set value (server.h: OBJ_SET with OBJ_ENCODING_INTSET or OBJ_ENCODING_HT).
pub enum Set {
    /// Sorted, distinct integers and their width (intset.c).
    Intset(Intset),
    /// Members as dict keys with no values. Boxed, so that a small intset does not
    /// pay for a dict header.
    HashTable(Box<Dict<Bytes, ()>>),
}
// ANCHOR_END: set_type

/// One member as a set stores it: an intset holds numbers, a dict holds strings.
#[derive(Debug, Clone, PartialEq)]
pub enum SetEle<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl SetEle<'_> {
    /// setTypeNextObject: the member as text.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            SetEle::Int(v) => Bytes::from(itoa::Buffer::new().format(*v).to_owned()),
            SetEle::Str(b) => Bytes::copy_from_slice(b),
        }
    }

    /// Adds the member to a reply as a bulk string.
    pub fn reply(&self, c: &mut Client) {
        match self {
            SetEle::Int(v) => c.add_reply_bulk_long_long(*v),
            SetEle::Str(b) => c.add_reply_bulk(b),
        }
    }
}

impl Default for Set {
    fn default() -> Self {
        Set::Intset(Intset::default())
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Set")
            .field("encoding", &self.encoding_name())
            .field("len", &self.len())
            .finish()
    }
}

impl Clone for Set {
    /// t_set.c: setTypeDup (COPY): a deep copy in the same encoding.
    fn clone(&self) -> Self {
        match self {
            Set::Intset(v) => Set::Intset(v.clone()),
            Set::HashTable(d) => {
                let mut n = Dict::new();
                n.expand(d.len());
                for e in d.iter() {
                    let _ = n.add(e.key.clone(), ());
                }
                Set::HashTable(Box::new(n))
            }
        }
    }
}

/// Two sets are equal when they have the same encoding and the same members.
impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.encoding_name() == other.encoding_name()
            && self.len() == other.len()
            && self.iter().all(|e| other.is_member(&e.to_bytes()))
    }
}

/// intset.c: _intsetValueEncoding (the width every member gets)
fn intset_value_encoding(v: i64) -> usize {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        8
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        4
    } else {
        2
    }
}

impl Set {
    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::HashTable(_) => "hashtable",
        }
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        match self {
            // intset.c: intsetBlobLen (header, then every member at the widest width)
            Set::Intset(v) => {
                let width = v
                    .first()
                    .into_iter()
                    .chain(v.last())
                    .map(|&x| intset_value_encoding(x))
                    .max()
                    .unwrap_or(2);
                8 + v.len() * width
            }
            Set::HashTable(d) => {
                d.table_bytes()
                    + d.iter()
                        .map(|e| e.key.len() + std::mem::size_of::<Bytes>())
                        .sum::<usize>()
            }
        }
    }

    /// t_set.c: setTypeSize
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(v) => v.len(),
            Set::HashTable(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// t_set.c: setTypeCreate: an intset if the first member is an integer.
    pub fn create(value: &[u8]) -> Set {
        if string2ll(value).is_some() {
            Set::Intset(Intset::default())
        } else {
            Set::HashTable(Box::default())
        }
    }

    /// t_set.c: setTypeInitIterator / setTypeNext (an intset in ascending order)
    pub fn iter(&self) -> Box<dyn Iterator<Item = SetEle<'_>> + '_> {
        match self {
            Set::Intset(v) => Box::new(v.iter().map(|&x| SetEle::Int(x))),
            Set::HashTable(d) => Box::new(d.iter().map(|e| SetEle::Str(&e.key))),
        }
    }

    // ANCHOR: set_type_add
    /// t_set.c: setTypeAdd. True if the member is new.
    ///
    /// An intset takes integers only: the first other member converts the set to a
    /// dict, and so does growing past `max_entries` (capped at 2^30).
    pub fn add(&mut self, value: &[u8], max_entries: usize) -> bool {
        match self {
            Set::HashTable(d) => d.add(Bytes::copy_from_slice(value), ()).is_ok(),
            Set::Intset(v) => match string2ll(value) {
                Some(ll) => {
                    let Err(pos) = v.binary_search(&ll) else {
                        return false;
                    };
                    v.insert(pos, ll);
                    if v.len() > max_entries.min(INTSET_MAX_ENTRIES) {
                        self.convert();
                    }
                    true
                }
                None => {
                    self.convert();
                    let Set::HashTable(d) = self else {
                        unreachable!()
                    };
                    let added = d.add(Bytes::copy_from_slice(value), ()).is_ok();
                    debug_assert!(added, "a non-integer cannot be in an intset");
                    true
                }
            },
        }
    }
    // ANCHOR_END: set_type_add

    /// t_set.c: setTypeRemove. A dict is shrunk when it becomes mostly empty.
    pub fn remove(&mut self, value: &[u8]) -> bool {
        match self {
            Set::HashTable(d) => {
                if d.delete(value).is_none() {
                    return false;
                }
                if db::ht_needs_resize(d) {
                    d.resize();
                }
                true
            }
            Set::Intset(v) => match string2ll(value).map(|ll| v.binary_search(&ll)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
        }
    }

    /// t_set.c: setTypeIsMember (without the rehash step a dict lookup would do, so
    /// that several sets can be read at once)
    pub fn is_member(&self, value: &[u8]) -> bool {
        match self {
            Set::HashTable(d) => d.contains_key(value),
            Set::Intset(v) => string2ll(value).is_some_and(|ll| v.binary_search(&ll).is_ok()),
        }
    }

    /// Membership of an integer member, without formatting it for an intset.
    fn is_member_ele(&self, e: &SetEle) -> bool {
        match (self, e) {
            (Set::Intset(v), SetEle::Int(ll)) => v.binary_search(ll).is_ok(),
            (_, SetEle::Str(b)) => self.is_member(b),
            (Set::HashTable(_), SetEle::Int(_)) => self.is_member(&e.to_bytes()),
        }
    }

    // ANCHOR: set_type_convert
    /// t_set.c: setTypeConvert (intset to a presized dict; never the other way)
    pub fn convert(&mut self) {
        let Set::Intset(v) = self else {
            return;
        };
        let mut d = Dict::new();
        d.expand(v.len());
        let mut buf = itoa::Buffer::new();
        for &x in v.iter() {
            let _ = d.add(Bytes::copy_from_slice(buf.format(x).as_bytes()), ());
        }
        *self = Set::HashTable(Box::new(d));
    }
    // ANCHOR_END: set_type_convert

    /// t_set.c: setTypeRandomElement (intset.c: intsetRandom, or dictGetFairRandomKey).
    /// The set must not be empty.
    pub fn random_element(&mut self) -> Bytes {
        match self {
            Set::Intset(v) => {
                let x = v[random_ulong() as usize % v.len()];
                Bytes::from(itoa::Buffer::new().format(x).to_owned())
            }
            Set::HashTable(d) => d
                .get_fair_random_key()
                .expect("random member of an empty set")
                .key
                .clone(),
        }
    }
}

/// db.c: lookupKeyRead / lookupKeyWrite followed by object.c: checkType(OBJ_SET).
fn lookup_set(s: &mut Server, dbid: usize, key: &[u8], write: bool) -> Found {
    lookup_key_typed(s, dbid, key, write, |v| matches!(v, Value::Set(_)))
}

/// The set at a key a lookup just found.
fn set_at<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> &'a mut Set {
    match s.db[dbid].dict.find(key).map(|e| &mut e.val.ptr) {
        Some(Value::Set(x)) => x,
        _ => unreachable!("set_at: the lookup found a set"),
    }
}

/// The set at a key, shared (several can be read at once).
fn set_ref<'a>(s: &'a Server, dbid: usize, key: &[u8]) -> Option<&'a Set> {
    match s.db[dbid].dict.get(key).map(|e| &e.val.ptr) {
        Some(Value::Set(x)) => Some(x),
        _ => None,
    }
}

/// object.c: createSetObject / createIntsetObject around a set
pub fn create_set_object(s: &Server, set: Set) -> RObj {
    RObj {
        lru: crate::object::initial_lru(s),
        shared: false,
        ptr: Value::Set(Box::new(set)),
    }
}

// ANCHOR: sadd_command
/// t_set.c: saddCommand
pub fn sadd_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, true) {
        Found::WrongType => return wrongtype(s, c),
        Found::Missing => {
            let o = create_set_object(s, Set::create(&c.argv[2]));
            db::db_add(s, c.db, create_string_object(&key), o);
        }
        Found::Found => {}
    }
    let max = s.config.set_max_intset_entries;
    let set = set_at(s, c.db, &key);
    let added = c.argv[2..].iter().filter(|m| set.add(m, max)).count();
    if added > 0 {
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_SET, "sadd", &key, c.db);
    }
    s.dirty += added as u64;
    c.add_reply_long_long(added as i64);
}
// ANCHOR_END: sadd_command

/// t_set.c: sremCommand (the key goes with its last member)
pub fn srem_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, true) {
        Found::Missing => return c.add_reply(shared::CZERO),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let set = set_at(s, c.db, &key);
    let mut deleted = 0;
    let mut keyremoved = false;
    for m in &c.argv[2..] {
        if set.remove(m) {
            deleted += 1;
            if set.is_empty() {
                keyremoved = true;
                break;
            }
        }
    }
    if keyremoved {
        db::db_delete(s, c.db, &key);
    }
    if deleted > 0 {
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_SET, "srem", &key, c.db);
        if keyremoved {
            notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        }
        s.dirty += deleted;
    }
    c.add_reply_long_long(deleted as i64);
}

/// t_set.c: smoveCommand
pub fn smove_command(s: &mut Server, c: &mut Client) {
    let src = c.argv[1].clone();
    let dst = c.argv[2].clone();
    let ele = c.argv[3].clone();
    let srcf = lookup_set(s, c.db, &src, true);
    let dstf = lookup_set(s, c.db, &dst, true);
    if srcf == Found::Missing {
        return c.add_reply(shared::CZERO);
    }
    if srcf == Found::WrongType || dstf == Found::WrongType {
        return wrongtype(s, c);
    }
    if src == dst {
        let m = set_at(s, c.db, &src).is_member(&ele);
        return c.add_reply(if m { shared::CONE } else { shared::CZERO });
    }
    let srcset = set_at(s, c.db, &src);
    if !srcset.remove(&ele) {
        return c.add_reply(shared::CZERO);
    }
    let src_empty = srcset.is_empty();
    notify_keyspace_event(s, NOTIFY_SET, "srem", &src, c.db);
    if src_empty {
        db::db_delete(s, c.db, &src);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &src, c.db);
    }
    if dstf == Found::Missing {
        let o = create_set_object(s, Set::create(&ele));
        db::db_add(s, c.db, create_string_object(&dst), o);
    }
    db::signal_modified_key(s, c.db, &src);
    s.dirty += 1;
    let max = s.config.set_max_intset_entries;
    if set_at(s, c.db, &dst).add(&ele, max) {
        s.dirty += 1;
        db::signal_modified_key(s, c.db, &dst);
        notify_keyspace_event(s, NOTIFY_SET, "sadd", &dst, c.db);
    }
    c.add_reply(shared::CONE);
}

/// t_set.c: sismemberCommand
pub fn sismember_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, false) {
        Found::Missing => c.add_reply(shared::CZERO),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let m = set_at(s, c.db, &key).is_member(&c.argv[2]);
            c.add_reply(if m { shared::CONE } else { shared::CZERO });
        }
    }
}

/// t_set.c: smismemberCommand (a missing key is an empty set: all zeros)
pub fn smismember_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let found = lookup_set(s, c.db, &key, false);
    if found == Found::WrongType {
        return wrongtype(s, c);
    }
    let n = c.argv.len() - 2;
    c.add_reply_array_len(n);
    for j in 2..c.argv.len() {
        let m = found == Found::Found
            && set_ref(s, c.db, &key).is_some_and(|x| x.is_member(&c.argv[j]));
        c.add_reply(if m { shared::CONE } else { shared::CZERO });
    }
}

/// t_set.c: scardCommand
pub fn scard_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, false) {
        Found::Missing => c.add_reply(shared::CZERO),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let n = set_at(s, c.db, &key).len();
            c.add_reply_long_long(n as i64);
        }
    }
}

/// object.c: getRangeLongFromObjectOrReply for argv[idx], with Redis's messages.
fn get_range_long_or_reply(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    min: i64,
    max: i64,
    msg: Option<&str>,
) -> Option<i64> {
    let Some(v) = string2ll(&c.argv[idx]) else {
        add_reply_error(s, c, msg.unwrap_or(shared::NOTINTEGERERR));
        return None;
    };
    if v < min || v > max {
        let text = format!("value is out of range, value must between {min} and {max}");
        add_reply_error(s, c, msg.unwrap_or(&text));
        return None;
    }
    Some(v)
}

/// The SREM a popped member is propagated as.
fn srem_argv(key: &Bytes, member: Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"SREM"), key.clone(), member]
}

// ANCHOR: spop_with_count_command
/// t_set.c: spopWithCountCommand
///
/// Never propagated as itself, whose result is random: as DEL when the whole set
/// goes (CASE 1), otherwise as one SREM per popped member. Popping few members
/// picks them one by one (CASE 2); popping most of the set instead picks the few
/// that stay, moves them to a new set that replaces the old one, and replies with
/// what is left in the old one (CASE 3).
fn spop_with_count_command(s: &mut Server, c: &mut Client) {
    let Some(l) = get_range_long_or_reply(
        s,
        c,
        2,
        0,
        i64::MAX,
        Some("value is out of range, must be positive"),
    ) else {
        return;
    };
    let mut count = l as u64;
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, true) {
        Found::Missing => return c.add_reply_set_len(0),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    if count == 0 {
        c.add_reply_set_len(0);
        return;
    }
    let size = set_at(s, c.db, &key).len() as u64;
    notify_keyspace_event(s, NOTIFY_SET, "spop", &key, c.db);
    s.dirty += count.min(size);

    // CASE 1: everything.
    if count >= size {
        sunion_diff_generic_command(s, c, std::slice::from_ref(&key), None, SetOp::Union);
        db::db_delete(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        s.propagate_argv = Some(vec![Bytes::from_static(b"DEL"), key.clone()]);
        db::signal_modified_key(s, c.db, &key);
        return;
    }

    c.add_reply_set_len(count as usize);
    let mut props: Vec<Vec<Bytes>> = Vec::new();
    let mut remaining = size - count;
    let max = s.config.set_max_intset_entries;
    let set = set_at(s, c.db, &key);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // CASE 2: pop `count` random members.
        while count > 0 {
            count -= 1;
            let m = set.random_element();
            c.add_reply_bulk(&m);
            set.remove(&m);
            props.push(srem_argv(&key, m));
        }
    } else {
        // CASE 3: move the `remaining` survivors to a new set, reply with the rest.
        let mut newset: Option<Set> = None;
        while remaining > 0 {
            remaining -= 1;
            let m = set.random_element();
            newset.get_or_insert_with(|| Set::create(&m)).add(&m, max);
            set.remove(&m);
        }
        for m in set.iter() {
            m.reply(c);
            props.push(srem_argv(&key, m.to_bytes()));
        }
        let o = create_set_object(s, newset.expect("CASE 3 keeps at least one member"));
        db::db_overwrite(s, c.db, &key, o);
    }
    // The last SREM stands in for the command itself, the others go before it: the
    // stream then holds exactly Redis's SREMs, in Redis's order.
    let last = props.pop();
    for argv in props {
        crate::server::also_propagate(s, c.db, argv);
    }
    s.propagate_argv = last;
    db::signal_modified_key(s, c.db, &key);
}
// ANCHOR_END: spop_with_count_command

/// t_set.c: spopCommand (propagated as SREM of the member it popped)
pub fn spop_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 3 {
        return spop_with_count_command(s, c);
    } else if c.argv.len() > 3 {
        return add_reply_error(s, c, shared::SYNTAXERR);
    }
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, true) {
        Found::Missing => return c.add_reply_null(),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let set = set_at(s, c.db, &key);
    let m = set.random_element();
    set.remove(&m);
    let empty = set.is_empty();
    notify_keyspace_event(s, NOTIFY_SET, "spop", &key, c.db);
    s.propagate_argv = Some(srem_argv(&key, m.clone()));
    c.add_reply_bulk(&m);
    if empty {
        db::db_delete(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
    }
    db::signal_modified_key(s, c.db, &key);
    s.dirty += 1;
}

// ANCHOR: srandmember_with_count_command
/// t_set.c: srandmemberWithCountCommand
///
/// The same case analysis as HRANDFIELD: repeats allowed (CASE 1), the whole set
/// (CASE 2), a copy thinned out at random (CASE 3), random picks until enough
/// distinct ones (CASE 4).
fn srandmember_with_count_command(s: &mut Server, c: &mut Client) {
    let Some(l) = get_range_long_or_reply(s, c, 2, -i64::MAX, i64::MAX, None) else {
        return;
    };
    let (mut count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, false) {
        Found::Missing => return c.add_reply_array_len(0),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let size = set_at(s, c.db, &key).len() as u64;
    if count == 0 {
        c.add_reply_array_len(0);
        return;
    }

    // CASE 1: independent picks.
    if !uniq || count == 1 {
        c.add_reply_array_len(count as usize);
        while count > 0 {
            let batch = count.min(1000);
            count -= batch;
            let set = set_at(s, c.db, &key);
            for _ in 0..batch {
                let m = set.random_element();
                c.add_reply_bulk(&m);
            }
            if crate::t_hash::reply_must_stop(s, c) {
                break;
            }
        }
        return;
    }

    let set = set_at(s, c.db, &key);
    // CASE 2: the whole set.
    if count >= size {
        c.add_reply_array_len(size as usize);
        for m in set.iter() {
            m.reply(c);
        }
        return;
    }

    let mut d: Dict<Bytes, ()> = Dict::new();
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        // CASE 3: copy, then remove random members until `count` remain.
        d.expand(size as usize);
        for m in set.iter() {
            let _ = d.add(m.to_bytes(), ());
        }
        let mut size = size;
        while size > count {
            let k = d.get_fair_random_key().expect("non-empty").key.clone();
            d.delete(&k);
            size -= 1;
        }
    } else {
        // CASE 4: pick until `count` distinct members are found.
        d.expand(count as usize);
        let mut added = 0;
        while added < count {
            if d.add(set.random_element(), ()).is_ok() {
                added += 1;
            }
        }
    }
    c.add_reply_array_len(count as usize);
    for e in d.iter() {
        c.add_reply_bulk(&e.key);
    }
}
// ANCHOR_END: srandmember_with_count_command

/// t_set.c: srandmemberCommand
pub fn srandmember_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 3 {
        return srandmember_with_count_command(s, c);
    } else if c.argv.len() > 3 {
        return add_reply_error(s, c, shared::SYNTAXERR);
    }
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, false) {
        Found::Missing => c.add_reply_null(),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let m = set_at(s, c.db, &key).random_element();
            c.add_reply_bulk(&m);
        }
    }
}

/// Looks up every key of a multi-key set command (lookupKeyRead each, then
/// checkType). None after a WRONGTYPE error; otherwise, per key, whether it exists.
fn lookup_sets(s: &mut Server, c: &mut Client, keys: &[Bytes]) -> Option<Vec<bool>> {
    let mut found = Vec::with_capacity(keys.len());
    for k in keys {
        match lookup_set(s, c.db, k, false) {
            Found::WrongType => {
                wrongtype(s, c);
                return None;
            }
            f => found.push(f == Found::Found),
        }
    }
    Some(found)
}

/// Stores a computed set at `dstkey`, or deletes `dstkey` when the set is empty,
/// and replies with the cardinality (the STORE half of sinterGenericCommand and
/// sunionDiffGenericCommand).
fn store_set_result(s: &mut Server, c: &mut Client, dstkey: &Bytes, dstset: Set, event: &str) {
    if !dstset.is_empty() {
        let n = dstset.len();
        let o = create_set_object(s, dstset);
        db::set_key(s, c.db, dstkey, o, 0);
        c.add_reply_long_long(n as i64);
        notify_keyspace_event(s, NOTIFY_SET, event, dstkey, c.db);
        s.dirty += 1;
    } else {
        c.add_reply(shared::CZERO);
        if db::db_delete(s, c.db, dstkey) {
            s.dirty += 1;
            db::signal_modified_key(s, c.db, dstkey);
            notify_keyspace_event(s, NOTIFY_GENERIC, "del", dstkey, c.db);
        }
    }
}

// ANCHOR: sinter_generic_command
/// t_set.c: sinterGenericCommand (SINTER, SMEMBERS, SINTERSTORE, SINTERCARD)
///
/// A missing key is an empty set, so the result is empty at once. Otherwise the
/// smallest set is walked and each member tested against the others, so the
/// reply comes in the smallest set's order.
fn sinter_generic_command(
    s: &mut Server,
    c: &mut Client,
    keys: &[Bytes],
    dstkey: Option<&Bytes>,
    cardinality_only: bool,
    limit: u64,
) {
    let Some(found) = lookup_sets(s, c, keys) else {
        return;
    };
    if found.iter().any(|f| !f) {
        if let Some(dst) = dstkey {
            if db::db_delete(s, c.db, dst) {
                db::signal_modified_key(s, c.db, dst);
                notify_keyspace_event(s, NOTIFY_GENERIC, "del", dst, c.db);
                s.dirty += 1;
            }
            c.add_reply(shared::CZERO);
        } else if cardinality_only {
            c.add_reply_long_long(0);
        } else {
            c.add_reply_set_len(0);
        }
        return;
    }
    let max = s.config.set_max_intset_entries;
    let mut order: Vec<(&Bytes, &Set)> = keys
        .iter()
        .map(|k| (k, set_ref(s, c.db, k).expect("looked up")))
        .collect();
    // Smallest first; a stable sort, as glibc's qsort is for small arrays.
    order.sort_by_key(|(_, x)| x.len());
    let (first_key, first) = order[0];
    let mut cardinality: u64 = 0;
    let mut dstset = dstkey.map(|_| Set::Intset(Intset::default()));
    let mut members: Vec<Bytes> = Vec::new();
    for e in first.iter() {
        let in_all = order[1..]
            .iter()
            .all(|(k, x)| *k == first_key || x.is_member_ele(&e));
        if !in_all {
            continue;
        }
        if cardinality_only {
            cardinality += 1;
            if limit != 0 && cardinality >= limit {
                break;
            }
        } else if let Some(d) = dstset.as_mut() {
            d.add(&e.to_bytes(), max);
        } else {
            members.push(e.to_bytes());
        }
    }
    if cardinality_only {
        c.add_reply_long_long(cardinality as i64);
    } else if let (Some(dst), Some(d)) = (dstkey, dstset) {
        store_set_result(s, c, dst, d, "sinterstore");
    } else {
        c.add_reply_set_len(members.len());
        for m in &members {
            c.add_reply_bulk(m);
        }
    }
}
// ANCHOR_END: sinter_generic_command

/// t_set.c: sinterCommand (also SMEMBERS, which is SINTER of one key in Redis 7.0)
pub fn sinter_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sinter_generic_command(s, c, &keys, None, false, 0);
}

/// t_set.c: sinterCardCommand
pub fn sintercard_command(s: &mut Server, c: &mut Client) {
    let Some(numkeys) = get_range_long_or_reply(
        s,
        c,
        1,
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    ) else {
        return;
    };
    if numkeys > c.argv.len() as i64 - 2 {
        add_reply_error(s, c, "Number of keys can't be greater than number of args");
        return;
    }
    let numkeys = numkeys as usize;
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < c.argv.len() {
        let moreargs = c.argv.len() - 1 - j;
        if c.argv[j].eq_ignore_ascii_case(b"limit") && moreargs > 0 {
            j += 1;
            let Some(l) =
                get_range_long_or_reply(s, c, j, 0, i64::MAX, Some("LIMIT can't be negative"))
            else {
                return;
            };
            limit = l as u64;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }
    let keys = c.argv[2..2 + numkeys].to_vec();
    sinter_generic_command(s, c, &keys, None, true, limit);
}

/// t_set.c: sinterstoreCommand
pub fn sinterstore_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sinter_generic_command(s, c, &keys, Some(&dst), false, 0);
}

/// t_set.c: SET_OP_UNION / SET_OP_DIFF
#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Diff,
}

// ANCHOR: sunion_diff_generic_command
/// t_set.c: sunionDiffGenericCommand
///
/// The result is built as a new set that starts as an intset, so its encoding
/// (and the reply's order) follows the members that went in. SDIFF picks between
/// walking the first set and testing the others (algorithm 1) and adding the
/// first set then removing the others (algorithm 2) by estimated work, as Redis
/// does; the two can leave different encodings, which SDIFFSTORE shows.
fn sunion_diff_generic_command(
    s: &mut Server,
    c: &mut Client,
    keys: &[Bytes],
    dstkey: Option<&Bytes>,
    op: SetOp,
) {
    let Some(found) = lookup_sets(s, c, keys) else {
        return;
    };
    let max = s.config.set_max_intset_entries;
    let mut sets: Vec<Option<(&Bytes, &Set)>> = keys
        .iter()
        .zip(&found)
        .map(|(k, &f)| {
            if f {
                set_ref(s, c.db, k).map(|x| (k, x))
            } else {
                None
            }
        })
        .collect();
    let first_key = sets[0].map(|(k, _)| k);
    let sameset = sets[1..]
        .iter()
        .any(|x| x.is_some() && x.map(|(k, _)| k) == first_key);
    let mut diff_algo = 1;
    if op == SetOp::Diff && sets[0].is_some() && !sameset {
        let first_len = sets[0].map_or(0, |(_, x)| x.len()) as i64;
        let (mut one, mut two) = (0i64, 0i64);
        for (_, x) in sets.iter().flatten() {
            one += first_len;
            two += x.len() as i64;
        }
        one /= 2;
        diff_algo = if one <= two { 1 } else { 2 };
        if diff_algo == 1 && sets.len() > 1 {
            // Biggest first: a member is likelier to be found early.
            sets[1..].sort_by_key(|x| std::cmp::Reverse(x.map_or(0, |(_, s)| s.len())));
        }
    }
    let mut dstset = Set::Intset(Intset::default());
    let mut cardinality: i64 = 0;
    if op == SetOp::Union {
        for (_, x) in sets.iter().flatten() {
            for e in x.iter() {
                if dstset.add(&e.to_bytes(), max) {
                    cardinality += 1;
                }
            }
        }
    } else if sameset {
        // Subtracting the first set from itself leaves nothing.
    } else if let (Some((_, first)), 1) = (sets[0], diff_algo) {
        for e in first.iter() {
            let elsewhere = sets[1..].iter().flatten().any(|(_, x)| x.is_member_ele(&e));
            if !elsewhere {
                dstset.add(&e.to_bytes(), max);
                cardinality += 1;
            }
        }
    } else if sets[0].is_some() {
        for (j, (_, x)) in sets
            .iter()
            .enumerate()
            .filter_map(|(j, x)| x.map(|x| (j, x)))
        {
            for e in x.iter() {
                let b = e.to_bytes();
                if j == 0 {
                    if dstset.add(&b, max) {
                        cardinality += 1;
                    }
                } else if dstset.remove(&b) {
                    cardinality -= 1;
                }
            }
            if cardinality == 0 {
                break;
            }
        }
    }
    match dstkey {
        None => {
            c.add_reply_set_len(cardinality as usize);
            for e in dstset.iter() {
                e.reply(c);
            }
        }
        Some(dst) => {
            let event = if op == SetOp::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_set_result(s, c, dst, dstset, event)
        }
    }
}
// ANCHOR_END: sunion_diff_generic_command

/// t_set.c: sunionCommand
pub fn sunion_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sunion_diff_generic_command(s, c, &keys, None, SetOp::Union);
}

/// t_set.c: sunionstoreCommand
pub fn sunionstore_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sunion_diff_generic_command(s, c, &keys, Some(&dst), SetOp::Union);
}

/// t_set.c: sdiffCommand
pub fn sdiff_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[1..].to_vec();
    sunion_diff_generic_command(s, c, &keys, None, SetOp::Diff);
}

/// t_set.c: sdiffstoreCommand
pub fn sdiffstore_command(s: &mut Server, c: &mut Client) {
    let keys = c.argv[2..].to_vec();
    let dst = c.argv[1].clone();
    sunion_diff_generic_command(s, c, &keys, Some(&dst), SetOp::Diff);
}

/// t_set.c: sscanCommand (db.c: scanGenericCommand for a set)
///
/// An intset is returned whole with cursor 0; a dict is walked with the cursor.
pub fn sscan_command(s: &mut Server, c: &mut Client) {
    let Some(mut cursor) = db::parse_scan_cursor_or_reply(s, c, 2) else {
        return;
    };
    let key = c.argv[1].clone();
    match lookup_set(s, c.db, &key, false) {
        Found::Missing => return c.add_reply(db::EMPTYSCAN),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let Some(opts) = db::parse_scan_object_options(s, c) else {
        return;
    };
    let set = set_at(s, c.db, &key);
    let mut items: Vec<Bytes> = Vec::new();
    match set {
        Set::Intset(v) => {
            let mut buf = itoa::Buffer::new();
            items.extend(
                v.iter()
                    .map(|&x| Bytes::copy_from_slice(buf.format(x).as_bytes())),
            );
            cursor = 0;
        }
        Set::HashTable(d) => {
            let mut maxiterations = opts.count.saturating_mul(10);
            loop {
                cursor = d.scan(cursor, |k, _| items.push(k.key_dup()));
                if cursor == 0 {
                    break;
                }
                let more = maxiterations > 0;
                maxiterations -= 1;
                if !more || items.len() as i64 >= opts.count {
                    break;
                }
            }
        }
    }
    db::reply_scan_object(c, cursor, items, opts.pat.as_deref(), false);
}
