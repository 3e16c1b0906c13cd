//! Port of t_hash.c: the hash type, its two encodings and its commands.
//!
//! A small hash is a `listpack`: its field/value pairs in insertion order, searched
//! linearly, in one allocation with Redis's byte layout (integers stored as
//! integers), so DUMP and RDB write it as it is. Past `hash-max-listpack-entries` fields, or
//! as soon as a field or value is longer than `hash-max-listpack-value`, the hash
//! becomes a `hashtable` (our dict.rs), and it never goes back.

use std::borrow::Cow;

use crate::listpack::{
    lp_append, lp_delete_range, lp_find, lp_first, lp_get, lp_length, lp_new, lp_next, lp_replace,
    lp_seek,
};
use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC, NOTIFY_HASH};
use crate::object::{lookup_key_typed, wrongtype, Found};
use bytes::Bytes;

use crate::db;
use crate::dict::DictKey;
use crate::dict::{random_ulong, Dict};
use crate::networking::{Client, CLIENT_CLOSE_ASAP};
use crate::object::{create_string_object, get_long_long_from_object_or_reply, RObj, Value};
use crate::resp::{add_reply_error, add_reply_error_arity, shared};
use crate::server::Server;
use crate::util::{ld2string, string2ld, LdStrMode, LongDouble, MAX_LONG_DOUBLE_CHARS};

/// listpack.h: LISTPACK_MAX_SAFETY_SIZE (a listpack is kept under 1 GiB)
pub const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;

/// t_hash.c: HRANDFIELD_SUB_STRATEGY_MUL
const HRANDFIELD_SUB_STRATEGY_MUL: u64 = 3;
/// t_hash.c: HRANDFIELD_RANDOM_SAMPLE_LIMIT
const HRANDFIELD_RANDOM_SAMPLE_LIMIT: u64 = 1000;

/// A reply that grows past this many bytes in one command closes the connection.
///
/// Redis bounds a huge HRANDFIELD/SRANDMEMBER reply only by the client output
/// buffer limits, which are off for normal clients by default, so a negative count
/// near LONG_MAX makes it allocate until the OOM killer steps in. Ferredis stops at
/// this ceiling and closes the client instead (the reply's length header is already
/// sent, so the reply cannot be cut short).
pub const REPLY_SANITY_CEILING: usize = 1 << 30;

// ANCHOR: hash_type
/// A hash value (server.h: OBJ_HASH with OBJ_ENCODING_LISTPACK or OBJ_ENCODING_HT).
pub enum Hash {
    /// One listpack blob, in Redis's byte format: field, value, field, value... in
    /// insertion order (listpack.rs has the entry codec and the operations).
    Listpack(Vec<u8>),
    /// Fields to values in a dict, once the hash outgrew the listpack thresholds.
    /// Boxed so that the many small hashes pay for a Vec, not for a dict header.
    HashTable(Box<Dict<Bytes, Bytes>>),
}
// ANCHOR_END: hash_type

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(lp_new())
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hash")
            .field("encoding", &self.encoding_name())
            .field("len", &self.len())
            .finish()
    }
}

impl Clone for Hash {
    /// t_hash.c: hashTypeDup (COPY): a deep copy in the same encoding.
    fn clone(&self) -> Self {
        match self {
            Hash::Listpack(v) => Hash::Listpack(v.clone()),
            Hash::HashTable(d) => {
                let mut n = Dict::new();
                n.expand(d.len());
                for e in d.iter() {
                    let _ = n.add(e.key.key_dup(), e.val.key_dup());
                }
                Hash::HashTable(Box::new(n))
            }
        }
    }
}

/// Two hashes are equal when they have the same encoding and the same pairs.
impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        if self.encoding_name() != other.encoding_name() || self.len() != other.len() {
            return false;
        }
        self.iter()
            .all(|(f, v)| other.get_ref(&f).is_some_and(|ov| ov == v))
    }
}

/// An iterator over a hash's pairs (t_hash.c: hashTypeIterator). A listpack's
/// integers come out in their decimal form, as hashTypeCurrentObject gives them.
pub enum HashIter<'a> {
    Listpack(&'a [u8], Option<usize>),
    HashTable(Box<dyn Iterator<Item = (&'a Bytes, &'a Bytes)> + 'a>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (Cow<'a, [u8]>, Cow<'a, [u8]>);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(p, pos) => {
                let p: &'a [u8] = p;
                let fpos = (*pos)?;
                let vpos = lp_next(p, fpos).expect("a listpack hash has whole pairs");
                *pos = lp_next(p, vpos);
                Some((lp_get(p, fpos).to_cow(), lp_get(p, vpos).to_cow()))
            }
            HashIter::HashTable(it) => it
                .next()
                .map(|(f, v)| (Cow::Borrowed(&f[..]), Cow::Borrowed(&v[..]))),
        }
    }
}

/// Makes room for one more entry in a small encoding's vector (the sorted set's).
/// Rust's own growth starts at four slots and doubles; a listpack grows by exactly
/// what it appends, so growing by an eighth keeps a one-member set at one slot and
/// the cost amortized.
pub fn lp_reserve<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 8).max(1));
    }
}

/// t_hash.c: hashTypeGetFromListpack's search: the position of `field`'s entry.
fn hash_lp_find(p: &[u8], field: &[u8]) -> Option<usize> {
    lp_find(p, lp_first(p), field, 1)
}

impl Hash {
    /// A listpack hash holding these pairs, in this order (RDB loading, tests).
    pub fn from_pairs<F: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(F, V)]) -> Hash {
        let mut p = lp_new();
        let eles: Vec<&[u8]> = pairs
            .iter()
            .flat_map(|(f, v)| [f.as_ref(), v.as_ref()])
            .collect();
        lp_append(&mut p, &eles);
        Hash::Listpack(p)
    }

    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::HashTable(_) => "hashtable",
        }
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        match self {
            Hash::Listpack(p) => p.len(),
            Hash::HashTable(d) => {
                d.table_bytes()
                    + d.iter()
                        .map(|e| e.key.len() + e.val.len() + 2 * std::mem::size_of::<Bytes>())
                        .sum::<usize>()
            }
        }
    }

    /// t_hash.c: hashTypeLength
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(p) => lp_length(p) / 2,
            Hash::HashTable(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// t_hash.c: hashTypeInitIterator / hashTypeNext
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Listpack(p) => HashIter::Listpack(p, lp_first(p)),
            Hash::HashTable(d) => HashIter::HashTable(Box::new(d.iter().map(|e| (&e.key, &e.val)))),
        }
    }

    /// t_hash.c: hashTypeGetValue (a dict lookup that does one rehash step, as Redis)
    pub fn get(&mut self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self {
            Hash::Listpack(_) => self.get_ref(field),
            Hash::HashTable(d) => d.find(field).map(|e| Cow::Borrowed(&e.val[..])),
        }
    }

    /// A lookup without rehash work, for shared references.
    pub fn get_ref(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self {
            Hash::Listpack(p) => {
                let fpos = hash_lp_find(p, field)?;
                let vpos = lp_next(p, fpos)?;
                Some(lp_get(p, vpos).to_cow())
            }
            Hash::HashTable(d) => d.get(field).map(|e| Cow::Borrowed(&e.val[..])),
        }
    }

    /// t_hash.c: hashTypeExists
    pub fn exists(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(p) => hash_lp_find(p, field).is_some(),
            Hash::HashTable(d) => d.find(field).is_some(),
        }
    }

    // ANCHOR: hash_type_try_conversion
    /// t_hash.c: hashTypeTryConversion
    ///
    /// Looks at the arguments before anything is inserted: one too long for a
    /// listpack entry, or a total that would push the listpack past its 1 GiB
    /// safety size, converts the hash first.
    pub fn try_conversion(&mut self, args: &[Bytes], max_value: usize) {
        let Hash::Listpack(p) = self else {
            return;
        };
        let mut sum = 0;
        for a in args {
            if a.len() > max_value {
                self.convert();
                return;
            }
            sum += a.len();
        }
        if p.len() + sum > LISTPACK_MAX_SAFETY_SIZE {
            self.convert();
        }
    }
    // ANCHOR_END: hash_type_try_conversion

    // ANCHOR: hash_type_convert
    /// t_hash.c: hashTypeConvertListpack (to OBJ_ENCODING_HT; there is no way back)
    ///
    /// The dict is presized for every pair, so filling it never rehashes.
    pub fn convert(&mut self) {
        let Hash::Listpack(p) = self else {
            return;
        };
        let mut d = Dict::new();
        d.expand(lp_length(p) / 2);
        for (f, x) in HashIter::Listpack(p, lp_first(p)) {
            let (f, x) = (Bytes::from(f.into_owned()), Bytes::from(x.into_owned()));
            if d.add(f, x).is_err() {
                panic!("listpack with duplicate fields");
            }
        }
        *self = Hash::HashTable(Box::new(d));
    }
    // ANCHOR_END: hash_type_convert

    // ANCHOR: hash_type_set
    /// t_hash.c: hashTypeSet. Returns true if the field existed (an update).
    ///
    /// A listpack replaces the value in place or appends the new pair at its tail,
    /// which is why a small hash replies in insertion order, and converts once it
    /// holds more than `max_entries` pairs. The length check here catches HINCRBY*,
    /// which skip `try_conversion`.
    pub fn set(
        &mut self,
        field: &[u8],
        value: &[u8],
        max_entries: usize,
        max_value: usize,
    ) -> bool {
        if matches!(self, Hash::Listpack(_)) && (field.len() > max_value || value.len() > max_value)
        {
            self.convert();
        }
        match self {
            Hash::Listpack(p) => {
                let update = match hash_lp_find(p, field) {
                    Some(fpos) => {
                        let vpos = lp_next(p, fpos).expect("a listpack hash has whole pairs");
                        lp_replace(p, vpos, value);
                        true
                    }
                    None => {
                        lp_append(p, &[field, value]);
                        false
                    }
                };
                if self.len() > max_entries {
                    self.convert();
                }
                update
            }
            Hash::HashTable(d) => match d.find(field) {
                Some(e) => {
                    e.val = Bytes::copy_from_slice(value);
                    true
                }
                None => {
                    let _ = d.add(Bytes::copy_from_slice(field), Bytes::copy_from_slice(value));
                    false
                }
            },
        }
    }
    // ANCHOR_END: hash_type_set

    /// t_hash.c: hashTypeDelete. A dict is shrunk when it becomes mostly empty.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(p) => match hash_lp_find(p, field) {
                Some(fpos) => {
                    lp_delete_range(p, fpos, 2);
                    true
                }
                None => false,
            },
            Hash::HashTable(d) => {
                if d.delete(field).is_none() {
                    return false;
                }
                if db::ht_needs_resize(d) {
                    d.resize();
                }
                true
            }
        }
    }

    /// t_hash.c: hashTypeRandomElement (listpack.c: lpRandomPair for a listpack,
    /// dictGetFairRandomKey for a dict). The hash must not be empty.
    pub fn random_element(&mut self) -> (Bytes, Bytes) {
        match self {
            Hash::Listpack(p) => {
                let n = lp_length(p) / 2;
                let fpos = lp_seek(p, 2 * (random_ulong() as usize % n)).expect("in range");
                let vpos = lp_next(p, fpos).expect("a listpack hash has whole pairs");
                (
                    Bytes::from(lp_get(p, fpos).to_cow().into_owned()),
                    Bytes::from(lp_get(p, vpos).to_cow().into_owned()),
                )
            }
            Hash::HashTable(d) => {
                let e = d
                    .get_fair_random_key()
                    .expect("random element of an empty hash");
                (e.key.key_dup(), e.val.key_dup())
            }
        }
    }
}

/// db.c: lookupKeyRead / lookupKeyWrite followed by object.c: checkType(OBJ_HASH).
fn lookup_hash(s: &mut Server, dbid: usize, key: &[u8], write: bool) -> Found {
    lookup_key_typed(s, dbid, key, write, |v| matches!(v, Value::Hash(_)))
}

/// The hash at a key a lookup just found (no second expiry check or statistics).
fn hash_at<'a>(s: &'a mut Server, dbid: usize, key: &[u8]) -> &'a mut Hash {
    match s.db[dbid].dict.find(key).map(|e| &mut e.val.ptr) {
        Some(Value::Hash(h)) => h,
        _ => unreachable!("hash_at: the lookup found a hash"),
    }
}

/// object.c: createHashObject (an empty listpack hash)
pub fn create_hash_object(s: &Server) -> RObj {
    RObj {
        lru: crate::object::initial_lru(s),
        shared: false,
        ptr: Value::Hash(Box::default()),
    }
}

/// t_hash.c: hashTypeLookupWriteOrCreate. None after a WRONGTYPE error.
fn hash_type_lookup_write_or_create<'a>(
    s: &'a mut Server,
    c: &mut Client,
    key: &Bytes,
) -> Option<&'a mut Hash> {
    match lookup_hash(s, c.db, key, true) {
        Found::WrongType => {
            wrongtype(s, c);
            return None;
        }
        Found::Missing => {
            let o = create_hash_object(s);
            db::db_add(s, c.db, create_string_object(key), o);
        }
        Found::Found => {}
    }
    Some(hash_at(s, c.db, key))
}

/// t_hash.c: hsetnxCommand
pub fn hsetnx_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let (max_entries, max_value) = (
        s.config.hash_max_listpack_entries,
        s.config.hash_max_listpack_value,
    );
    let Some(h) = hash_type_lookup_write_or_create(s, c, &key) else {
        return;
    };
    if h.exists(&c.argv[2]) {
        c.add_reply(shared::CZERO);
        return;
    }
    h.try_conversion(&c.argv[2..4], max_value);
    h.set(&c.argv[2], &c.argv[3], max_entries, max_value);
    c.add_reply(shared::CONE);
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_HASH, "hset", &key, c.db);
    s.dirty += 1;
}

// ANCHOR: hset_command
/// t_hash.c: hsetCommand (HSET and HMSET, which differ only in their reply)
pub fn hset_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() % 2 == 1 {
        add_reply_error_arity(s, c);
        return;
    }
    let key = c.argv[1].clone();
    let (max_entries, max_value) = (
        s.config.hash_max_listpack_entries,
        s.config.hash_max_listpack_value,
    );
    let Some(h) = hash_type_lookup_write_or_create(s, c, &key) else {
        return;
    };
    h.try_conversion(&c.argv[2..], max_value);
    let mut created = 0;
    for pair in c.argv[2..].chunks(2) {
        if !h.set(&pair[0], &pair[1], max_entries, max_value) {
            created += 1;
        }
    }
    if matches!(c.argv[0].get(1), Some(b's' | b'S')) {
        c.add_reply_long_long(created);
    } else {
        c.add_reply(shared::OK);
    }
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_HASH, "hset", &key, c.db);
    s.dirty += ((c.argv.len() - 2) / 2) as u64;
}
// ANCHOR_END: hset_command

/// t_hash.c: hincrbyCommand
pub fn hincrby_command(s: &mut Server, c: &mut Client) {
    let Some(incr) = get_long_long_from_object_or_reply(s, c, 3) else {
        return;
    };
    let key = c.argv[1].clone();
    let (max_entries, max_value) = (
        s.config.hash_max_listpack_entries,
        s.config.hash_max_listpack_value,
    );
    let Some(h) = hash_type_lookup_write_or_create(s, c, &key) else {
        return;
    };
    let value = match h.get(&c.argv[2]) {
        Some(v) => match crate::util::string2ll(&v) {
            Some(v) => v,
            None => {
                add_reply_error(s, c, "hash value is not an integer");
                return;
            }
        },
        None => 0,
    };
    let Some(value) = value.checked_add(incr) else {
        add_reply_error(s, c, "increment or decrement would overflow");
        return;
    };
    let new = Bytes::from(itoa::Buffer::new().format(value).to_owned());
    let h = hash_at(s, c.db, &key);
    h.set(&c.argv[2], &new, max_entries, max_value);
    c.add_reply_long_long(value);
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_HASH, "hincrby", &key, c.db);
    s.dirty += 1;
}

// ANCHOR: hincrbyfloat_command
/// t_hash.c: hincrbyfloatCommand
///
/// Propagated as HSET with the result's text, so a replica or an AOF reload stores
/// exactly these bytes instead of redoing a floating-point sum that could round
/// differently.
pub fn hincrbyfloat_command(s: &mut Server, c: &mut Client) {
    let Some(incr) = string2ld(&c.argv[3]) else {
        add_reply_error(s, c, "value is not a valid float");
        return;
    };
    if incr.is_nan() || incr.is_infinite() {
        add_reply_error(s, c, "value is NaN or Infinity");
        return;
    }
    let key = c.argv[1].clone();
    let (max_entries, max_value) = (
        s.config.hash_max_listpack_entries,
        s.config.hash_max_listpack_value,
    );
    let Some(h) = hash_type_lookup_write_or_create(s, c, &key) else {
        return;
    };
    let value = match h.get(&c.argv[2]) {
        Some(v) => match string2ld(&v) {
            Some(v) => v,
            None => {
                add_reply_error(s, c, "hash value is not a float");
                return;
            }
        },
        None => LongDouble::from_i64(0),
    };
    let value = value + incr;
    if value.is_nan() || value.is_infinite() {
        add_reply_error(s, c, "increment would produce NaN or Infinity");
        return;
    }
    // t_hash.c formats into a MAX_LONG_DOUBLE_CHARS buffer, which every finite
    // long double fits.
    let text = ld2string(value, MAX_LONG_DOUBLE_CHARS, LdStrMode::Human).unwrap_or_default();
    let text = Bytes::from(text);
    let h = hash_at(s, c.db, &key);
    h.set(&c.argv[2], &text, max_entries, max_value);
    c.add_reply_bulk(&text);
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_HASH, "hincrbyfloat", &key, c.db);
    s.dirty += 1;
    s.propagate_argv = Some(vec![
        Bytes::from_static(b"HSET"),
        key,
        c.argv[2].clone(),
        text,
    ]);
}
// ANCHOR_END: hincrbyfloat_command

/// t_hash.c: addHashFieldToReply
fn add_hash_field_to_reply(c: &mut Client, h: Option<&mut Hash>, field: &[u8]) {
    match h.and_then(|h| h.get(field)) {
        Some(v) => c.add_reply_bulk(&v),
        None => c.add_reply_null(),
    }
}

/// t_hash.c: hgetCommand
pub fn hget_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => c.add_reply_null(),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let h = hash_at(s, c.db, &key);
            add_hash_field_to_reply(c, Some(h), &c.argv[2].clone());
        }
    }
}

/// t_hash.c: hmgetCommand (a missing key is an empty hash: all nulls)
pub fn hmget_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let exists = match lookup_hash(s, c.db, &key, false) {
        Found::WrongType => return wrongtype(s, c),
        Found::Missing => false,
        Found::Found => true,
    };
    let n = c.argv.len() - 2;
    c.add_reply_array_len(n);
    for i in 2..c.argv.len() {
        let field = c.argv[i].clone();
        let h = if exists {
            Some(hash_at(s, c.db, &key))
        } else {
            None
        };
        add_hash_field_to_reply(c, h, &field);
    }
}

/// t_hash.c: hdelCommand (the key goes with its last field)
pub fn hdel_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, true) {
        Found::Missing => return c.add_reply(shared::CZERO),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let mut deleted = 0;
    let mut keyremoved = false;
    let h = hash_at(s, c.db, &key);
    for field in &c.argv[2..] {
        if h.delete(field) {
            deleted += 1;
            if h.is_empty() {
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
        notify_keyspace_event(s, NOTIFY_HASH, "hdel", &key, c.db);
        if keyremoved {
            notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        }
        s.dirty += deleted as u64;
    }
    c.add_reply_long_long(deleted);
}

/// t_hash.c: hlenCommand
pub fn hlen_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => c.add_reply(shared::CZERO),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let n = hash_at(s, c.db, &key).len();
            c.add_reply_long_long(n as i64);
        }
    }
}

/// t_hash.c: hstrlenCommand
pub fn hstrlen_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => c.add_reply(shared::CZERO),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let n = hash_at(s, c.db, &key)
                .get(&c.argv[2])
                .map_or(0, |v| v.len());
            c.add_reply_long_long(n as i64);
        }
    }
}

/// t_hash.c: hexistsCommand
pub fn hexists_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => c.add_reply(shared::CZERO),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let e = hash_at(s, c.db, &key).exists(&c.argv[2]);
            c.add_reply(if e { shared::CONE } else { shared::CZERO });
        }
    }
}

const OBJ_HASH_KEY: u8 = 1;
const OBJ_HASH_VALUE: u8 = 2;

// ANCHOR: generic_hgetall_command
/// t_hash.c: genericHgetallCommand (HKEYS, HVALS, HGETALL)
///
/// Fields and values together are a map (RESP3 `%`), one of them a flat array. The
/// order is the encoding's: insertion order for a listpack, bucket order for a dict.
fn generic_hgetall_command(s: &mut Server, c: &mut Client, flags: u8) {
    let key = c.argv[1].clone();
    let both = flags == OBJ_HASH_KEY | OBJ_HASH_VALUE;
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => {
            if both {
                c.add_reply_map_len(0);
            } else {
                c.add_reply_array_len(0);
            }
            return;
        }
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let h = hash_at(s, c.db, &key);
    if both {
        c.add_reply_map_len(h.len());
    } else {
        c.add_reply_array_len(h.len());
    }
    for (f, v) in h.iter() {
        if flags & OBJ_HASH_KEY != 0 {
            c.add_reply_bulk(&f);
        }
        if flags & OBJ_HASH_VALUE != 0 {
            c.add_reply_bulk(&v);
        }
    }
}
// ANCHOR_END: generic_hgetall_command

/// t_hash.c: hkeysCommand
pub fn hkeys_command(s: &mut Server, c: &mut Client) {
    generic_hgetall_command(s, c, OBJ_HASH_KEY);
}

/// t_hash.c: hvalsCommand
pub fn hvals_command(s: &mut Server, c: &mut Client) {
    generic_hgetall_command(s, c, OBJ_HASH_VALUE);
}

/// t_hash.c: hgetallCommand
pub fn hgetall_command(s: &mut Server, c: &mut Client) {
    generic_hgetall_command(s, c, OBJ_HASH_KEY | OBJ_HASH_VALUE);
}

// ANCHOR: hscan_command
/// t_hash.c: hscanCommand (db.c: scanGenericCommand for a hash)
///
/// A listpack is small by construction, so it is returned whole with cursor 0; a
/// dict is walked with the same reverse-binary cursor as SCAN, COUNT doubled
/// because each field comes with its value.
pub fn hscan_command(s: &mut Server, c: &mut Client) {
    let Some(cursor) = db::parse_scan_cursor_or_reply(s, c, 2) else {
        return;
    };
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => return c.add_reply(db::EMPTYSCAN),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let Some(opts) = db::parse_scan_object_options(s, c) else {
        return;
    };
    let h = hash_at(s, c.db, &key);
    let mut items: Vec<Bytes> = Vec::new();
    let mut cursor = cursor;
    match h {
        Hash::Listpack(_) => {
            for (f, x) in h.iter() {
                items.push(Bytes::from(f.into_owned()));
                items.push(Bytes::from(x.into_owned()));
            }
            cursor = 0;
        }
        Hash::HashTable(d) => {
            let count = opts.count.saturating_mul(2);
            let mut maxiterations = count.saturating_mul(10);
            loop {
                cursor = d.scan(cursor, |f, x| {
                    items.push(f.clone());
                    items.push(x.clone());
                });
                if cursor == 0 {
                    break;
                }
                let more = maxiterations > 0;
                maxiterations -= 1;
                if !more || items.len() as i64 >= count {
                    break;
                }
            }
        }
    }
    db::reply_scan_object(c, cursor, items, opts.pat.as_deref(), true);
}
// ANCHOR_END: hscan_command

/// Whether a reply that keeps growing must stop: the client is being closed (its
/// output buffer limit was reached) or the reply passed REPLY_SANITY_CEILING.
pub fn reply_must_stop(s: &mut Server, c: &mut Client) -> bool {
    if c.flags & CLIENT_CLOSE_ASAP != 0 {
        return true;
    }
    if crate::networking::close_client_on_output_buffer_limit_reached(s, c) {
        return true;
    }
    if c.reply_bytes > REPLY_SANITY_CEILING {
        crate::networking::free_client_async(s, c);
        return true;
    }
    false
}

/// One field (and maybe its value) of a HRANDFIELD reply; RESP3 pairs them.
fn add_field_reply(c: &mut Client, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && c.resp > 2 {
        c.add_reply_array_len(2);
    }
    c.add_reply_bulk(f);
    if withvalues {
        c.add_reply_bulk(v);
    }
}

// ANCHOR: hrandfield_with_count_command
/// t_hash.c: hrandfieldWithCountCommand
///
/// A negative count allows repeats (CASE 1); a positive one asks for distinct
/// fields: the whole hash when it is not bigger (CASE 2), a copy from which random
/// fields are removed when the count is close to the size (CASE 3), random picks
/// until enough distinct ones are found otherwise (CASE 4).
fn hrandfield_with_count_command(s: &mut Server, c: &mut Client, l: i64, withvalues: bool) {
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => return c.add_reply_array_len(0),
        Found::WrongType => return wrongtype(s, c),
        Found::Found => {}
    }
    let size = hash_at(s, c.db, &key).len() as u64;
    let (mut count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        c.add_reply_array_len(0);
        return;
    }

    // CASE 1: repeats allowed, every pick independent.
    if !uniq || count == 1 {
        let len = if withvalues && c.resp == 2 {
            count * 2
        } else {
            count
        };
        c.add_reply_array_len(len as usize);
        // A listpack is sampled in batches, as Redis does; either way the reply is
        // checked between batches so a huge count cannot grow it without bound.
        while count > 0 {
            let batch = count.min(HRANDFIELD_RANDOM_SAMPLE_LIMIT);
            count -= batch;
            let h = hash_at(s, c.db, &key);
            for _ in 0..batch {
                let (f, v) = h.random_element();
                add_field_reply(c, &f, &v, withvalues);
            }
            if reply_must_stop(s, c) {
                break;
            }
        }
        return;
    }

    let reply_size = count.min(size);
    let len = if withvalues && c.resp == 2 {
        reply_size * 2
    } else {
        reply_size
    };
    c.add_reply_array_len(len as usize);
    let h = hash_at(s, c.db, &key);

    // CASE 2: the whole hash.
    if count >= size {
        for (f, v) in h.iter() {
            add_field_reply(c, &f, &v, withvalues);
        }
        return;
    }

    // CASE 3: copy everything, remove random fields until `count` remain.
    if count * HRANDFIELD_SUB_STRATEGY_MUL > size {
        let mut d: Dict<Bytes, Bytes> = Dict::new();
        d.expand(size as usize);
        for (f, v) in h.iter() {
            let _ = d.add(Bytes::from(f.into_owned()), Bytes::from(v.into_owned()));
        }
        let mut size = size;
        while size > count {
            let k = d.get_fair_random_key().expect("non-empty").key.clone();
            d.delete(&k);
            size -= 1;
        }
        for e in d.iter() {
            add_field_reply(c, &e.key, &e.val, withvalues);
        }
        return;
    }

    // CASE 4: the hash is much bigger than the count.
    match h {
        Hash::Listpack(_) => {
            // listpack.c: lpRandomPairsUnique: one pass, each pair picked with
            // probability (still needed) / (still available), so in listpack order.
            let mut picked = 0u64;
            let total = size;
            for (i, (f, x)) in h.iter().enumerate() {
                let available = total - i as u64;
                let needed = count - picked;
                if needed == 0 {
                    break;
                }
                if random_ulong() % available < needed {
                    add_field_reply(c, &f, &x, withvalues);
                    picked += 1;
                }
            }
        }
        Hash::HashTable(_) => {
            let mut seen: Dict<Bytes, ()> = Dict::new();
            seen.expand(count as usize);
            let mut added = 0;
            while added < count {
                let (f, v) = h.random_element();
                if seen.add(f.clone(), ()).is_err() {
                    continue;
                }
                added += 1;
                add_field_reply(c, &f, &v, withvalues);
            }
        }
    }
}
// ANCHOR_END: hrandfield_with_count_command

/// t_hash.c: hrandfieldCommand
pub fn hrandfield_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() >= 3 {
        let l = match crate::util::string2ll(&c.argv[2]) {
            None => {
                add_reply_error(s, c, shared::NOTINTEGERERR);
                return;
            }
            Some(i64::MIN) => {
                let msg = format!(
                    "value is out of range, value must between {} and {}",
                    -i64::MAX,
                    i64::MAX
                );
                add_reply_error(s, c, &msg);
                return;
            }
            Some(l) => l,
        };
        let mut withvalues = false;
        if c.argv.len() > 4 || (c.argv.len() == 4 && !c.argv[3].eq_ignore_ascii_case(b"withvalues"))
        {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        } else if c.argv.len() == 4 {
            withvalues = true;
            if !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
                add_reply_error(s, c, "value is out of range");
                return;
            }
        }
        hrandfield_with_count_command(s, c, l, withvalues);
        return;
    }
    let key = c.argv[1].clone();
    match lookup_hash(s, c.db, &key, false) {
        Found::Missing => c.add_reply_null(),
        Found::WrongType => wrongtype(s, c),
        Found::Found => {
            let (f, _) = hash_at(s, c.db, &key).random_element();
            c.add_reply_bulk(&f);
        }
    }
}
