//! Port of object.c: the values keys hold, their encodings, and OBJECT.
//!
//! A string is stored as Redis stores it: `int` when it is the canonical text of a
//! 64-bit integer, `embstr` up to 44 bytes, `raw` above that or once modified in
//! place. The collection types live in their own modules (t_list.rs, t_hash.rs,
//! t_set.rs, t_zset.rs); this file only dispatches to them.

use bytes::Bytes;

use crate::util::{ld2string, string2ld, LdStrMode, LongDouble, MAX_LONG_DOUBLE_CHARS};

use crate::networking::Client;
use crate::resp::{add_reply_error, add_reply_help, add_reply_subcommand_syntax_error};
use crate::server::Server;

/// object.c: OBJ_ENCODING_EMBSTR_SIZE_LIMIT
pub const OBJ_ENCODING_EMBSTR_SIZE_LIMIT: usize = 44;
/// server.h: OBJ_SHARED_INTEGERS (0..10000 are shared objects in Redis)
pub const OBJ_SHARED_INTEGERS: i64 = 10000;
/// server.h: OBJ_SHARED_REFCOUNT (what OBJECT REFCOUNT says of a shared object)
pub const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// server.h: LRU_CLOCK_MAX / LRU_CLOCK_RESOLUTION
pub const LRU_BITS: u32 = 24;
pub const LRU_CLOCK_MAX: u32 = (1 << LRU_BITS) - 1;
pub const LRU_CLOCK_RESOLUTION: i64 = 1000;
/// server.h: LFU_INIT_VAL
pub const LFU_INIT_VAL: u32 = 5;

/// The payload of a value (server.h: robj's type, encoding and ptr together).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// OBJ_STRING, OBJ_ENCODING_INT
    Int(i64),
    /// OBJ_STRING, OBJ_ENCODING_EMBSTR: small, never modified in place.
    EmbStr(Box<[u8]>),
    /// OBJ_STRING, OBJ_ENCODING_RAW: may grow in place (APPEND, SETRANGE, SETBIT).
    Raw(Vec<u8>),
    /// OBJ_LIST (t_list.rs)
    List(Box<crate::t_list::List>),
    /// OBJ_HASH (t_hash.rs)
    Hash(Box<crate::t_hash::Hash>),
    /// OBJ_SET (t_set.rs)
    Set(Box<crate::t_set::Set>),
    /// OBJ_ZSET (t_zset.rs)
    ZSet(Box<crate::t_zset::ZSet>),
}

// ANCHOR: robj
/// A value in the keyspace (server.h: robj).
///
/// There is no reference count: a value has one owner, the dict entry. `shared`
/// stands for Redis's shared small integers, which OBJECT REFCOUNT reports as such.
#[derive(Debug, Clone)]
pub struct RObj {
    /// LRU: the 24-bit LRU clock of the last access. LFU: minutes (16 bits) << 8 |
    /// logarithmic counter (8 bits).
    pub lru: u32,
    pub shared: bool,
    pub ptr: Value,
}
// ANCHOR_END: robj

/// Short-lived text of a string value, integer or not.
pub enum StrBuf<'a> {
    Slice(&'a [u8]),
    Int(itoa::Buffer, i64),
}

impl StrBuf<'_> {
    pub fn as_bytes(&mut self) -> &[u8] {
        match self {
            StrBuf::Slice(s) => s,
            StrBuf::Int(b, v) => b.format(*v).as_bytes(),
        }
    }
}

impl RObj {
    /// object.c: strObjType name, as TYPE reports it (server.c: getObjectTypeName)
    pub fn type_name(&self) -> &'static str {
        match self.ptr {
            Value::Int(_) | Value::EmbStr(_) | Value::Raw(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self.ptr, Value::Int(_) | Value::EmbStr(_) | Value::Raw(_))
    }

    /// object.c: strEncoding
    pub fn encoding_name(&self) -> &'static str {
        match &self.ptr {
            Value::Int(_) => "int",
            Value::EmbStr(_) => "embstr",
            Value::Raw(_) => "raw",
            Value::List(l) => l.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(x) => x.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
        }
    }

    /// The string's bytes (object.c: getDecodedObject), formatting an integer.
    /// Callers check `is_string` first; another type reads as empty.
    pub fn str_bytes(&self) -> StrBuf<'_> {
        match &self.ptr {
            Value::Int(v) => StrBuf::Int(itoa::Buffer::new(), *v),
            Value::EmbStr(b) => StrBuf::Slice(b),
            Value::Raw(b) => StrBuf::Slice(b),
            _ => StrBuf::Slice(&[]),
        }
    }

    /// object.c: stringObjectLen
    pub fn string_len(&self) -> usize {
        match &self.ptr {
            Value::Int(v) => itoa::Buffer::new().format(*v).len(),
            Value::EmbStr(b) => b.len(),
            Value::Raw(b) => b.len(),
            _ => 0,
        }
    }

    /// db.c: dbUnshareStringValue. Turns the value into a private `raw` string that
    /// can be modified in place, and returns its buffer.
    pub fn unshare_string_value(&mut self) -> &mut Vec<u8> {
        if !matches!(self.ptr, Value::Raw(_)) {
            let bytes = self.str_bytes().as_bytes().to_vec();
            self.ptr = Value::Raw(bytes);
            self.shared = false;
        }
        match &mut self.ptr {
            Value::Raw(v) => v,
            _ => unreachable!(),
        }
    }

    /// object.c: objectComputeSize, for strings (MEMORY USAGE): the object header and
    /// the string's allocation.
    pub fn compute_size(&self) -> usize {
        let header = std::mem::size_of::<RObj>();
        match &self.ptr {
            Value::Int(_) => header,
            Value::EmbStr(b) => header + b.len(),
            Value::Raw(v) => header + v.capacity(),
            Value::List(l) => header + l.compute_size(),
            Value::Hash(h) => header + h.compute_size(),
            Value::Set(x) => header + x.compute_size(),
            Value::ZSet(z) => header + z.compute_size(),
        }
    }
}

/// object.c: createObject's LRU initialisation: the current LRU clock, or for an LFU
/// policy the current minute with the starting counter (so new keys are not the
/// first to be evicted).
#[inline]
pub fn initial_lru(s: &Server) -> u32 {
    if s.maxmemory_policy_is_lfu() {
        ((crate::evict::lfu_get_time_in_minutes(s) as u32) << 8) | LFU_INIT_VAL
    } else {
        s.lruclock
    }
}

/// object.c: createStringObject (embstr up to 44 bytes, raw above)
pub fn create_string_object_value(s: &Server, bytes: &[u8]) -> RObj {
    let ptr = if bytes.len() <= OBJ_ENCODING_EMBSTR_SIZE_LIMIT {
        Value::EmbStr(bytes.into())
    } else {
        Value::Raw(bytes.to_vec())
    };
    RObj {
        lru: initial_lru(s),
        shared: false,
        ptr,
    }
}

/// object.c: createRawStringObject
pub fn create_raw_string_object(s: &Server, bytes: Vec<u8>) -> RObj {
    RObj {
        lru: initial_lru(s),
        shared: false,
        ptr: Value::Raw(bytes),
    }
}

/// object.c: createStringObjectFromLongLongWithOptions
///
/// Small non-negative integers are "shared" unless an LRU/LFU policy needs each key
/// to have its own access time (MAXMEMORY_FLAG_NO_SHARED_INTEGERS).
pub fn create_string_object_from_long_long(s: &Server, value: i64, for_value: bool) -> RObj {
    let share = !for_value || !s.maxmemory_no_shared_integers();
    RObj {
        lru: initial_lru(s),
        shared: share && (0..OBJ_SHARED_INTEGERS).contains(&value),
        ptr: Value::Int(value),
    }
}

/// object.c: createStringObjectFromLongDouble (INCRBYFLOAT's result)
pub fn create_string_object_from_long_double(
    s: &Server,
    value: LongDouble,
    humanfriendly: bool,
) -> RObj {
    let mode = if humanfriendly {
        LdStrMode::Human
    } else {
        LdStrMode::Auto
    };
    // A text too long for Redis's buffer becomes an empty string there too.
    let text = ld2string(value, MAX_LONG_DOUBLE_CHARS, mode).unwrap_or_default();
    create_string_object_value(s, text.as_bytes())
}

/// object.c: getLongDoubleFromObject (a string value; an int-encoded one converts)
pub fn get_long_double_from_object(o: &RObj) -> Option<LongDouble> {
    match &o.ptr {
        Value::Int(v) => Some(LongDouble::from_i64(*v)),
        Value::EmbStr(b) => string2ld(b),
        Value::Raw(b) => string2ld(b),
        _ => None,
    }
}

// ANCHOR: try_object_encoding
/// object.c: tryObjectEncoding, for a string about to be stored (SET's value).
///
/// An integer in canonical form is stored as a number; a short string is embstr.
pub fn try_object_encoding(s: &Server, bytes: Bytes) -> RObj {
    if bytes.len() <= 20 {
        if let Some(v) = crate::util::string2l(&bytes) {
            return create_string_object_from_long_long(s, v, true);
        }
    }
    if bytes.len() <= OBJ_ENCODING_EMBSTR_SIZE_LIMIT {
        return RObj {
            lru: initial_lru(s),
            shared: false,
            ptr: Value::EmbStr(bytes.as_ref().into()),
        };
    }
    RObj {
        lru: initial_lru(s),
        shared: false,
        // A big argument owns its buffer: taking it does not copy.
        ptr: Value::Raw(Vec::from(bytes)),
    }
}
// ANCHOR_END: try_object_encoding

/// object.c: dupStringObject (COPY)
pub fn dup_string_object(s: &Server, o: &RObj) -> RObj {
    let mut n = o.clone();
    n.lru = initial_lru(s);
    n.shared = matches!(n.ptr, Value::Int(v) if o.shared && (0..OBJ_SHARED_INTEGERS).contains(&v));
    n
}

/// object.c: getLongLongFromObject, for a stored string value
pub fn get_long_long_from_object(o: &RObj) -> Option<i64> {
    match &o.ptr {
        Value::Int(v) => Some(*v),
        Value::EmbStr(b) => crate::util::string2ll(b),
        Value::Raw(b) => crate::util::string2ll(b),
        _ => None,
    }
}

/// object.c: objectCommandLookup (no LRU update, no statistics)
fn object_command_lookup<'a>(s: &'a mut Server, c: &Client, key: &[u8]) -> Option<&'a RObj> {
    crate::db::lookup_key_read_with_flags(
        s,
        c.db,
        key,
        crate::db::LOOKUP_NOTOUCH | crate::db::LOOKUP_NONOTIFY,
    )
    .map(|o| &*o)
}

/// object.c: objectCommand
pub fn object_command(s: &mut Server, c: &mut Client) {
    let sub = c.argv[1].to_ascii_lowercase();
    if c.argv.len() == 2 && sub == b"help" {
        add_reply_help(
            c,
            &[
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
            ],
        );
        return;
    }
    if c.argv.len() != 3
        || !matches!(
            sub.as_slice(),
            b"refcount" | b"encoding" | b"idletime" | b"freq"
        )
    {
        add_reply_subcommand_syntax_error(s, c);
        return;
    }
    let key = c.argv[2].clone();
    let lfu = s.maxmemory_policy_is_lfu();
    let lruclock = s.lru_clock();
    let Some(o) = object_command_lookup(s, c, &key) else {
        c.add_reply_null();
        return;
    };
    match sub.as_slice() {
        b"refcount" => {
            let n = if o.shared { OBJ_SHARED_REFCOUNT } else { 1 };
            c.add_reply_long_long(n);
        }
        b"encoding" => {
            let e = o.encoding_name();
            c.add_reply_bulk(e.as_bytes());
        }
        b"idletime" => {
            if lfu {
                add_reply_error(s, c, "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
                return;
            }
            let idle = estimate_object_idle_time(lruclock, o.lru) / 1000;
            c.add_reply_long_long(idle as i64);
        }
        _ => {
            if !lfu {
                add_reply_error(s, c, "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
                return;
            }
            let lru = o.lru;
            let f = crate::evict::lfu_decr_and_return(s, lru);
            c.add_reply_long_long(f as i64);
        }
    }
}

/// evict.c: estimateObjectIdleTime (milliseconds since the last access, from the
/// 24-bit clock, which wraps about every 194 days)
pub fn estimate_object_idle_time(lruclock: u32, lru: u32) -> u64 {
    if lruclock >= lru {
        (lruclock - lru) as u64 * LRU_CLOCK_RESOLUTION as u64
    } else {
        (lruclock as u64 + (LRU_CLOCK_MAX - lru) as u64) * LRU_CLOCK_RESOLUTION as u64
    }
}

/// object.c: getLongLongFromObjectOrReply (argv[idx] as an integer, or the shared error)
pub fn get_long_long_from_object_or_reply(
    s: &mut crate::server::Server,
    c: &mut crate::networking::Client,
    idx: usize,
) -> Option<i64> {
    match crate::util::string2ll(&c.argv[idx]) {
        Some(v) => Some(v),
        None => {
            crate::resp::add_reply_error(s, c, crate::resp::shared::NOTINTEGERERR);
            None
        }
    }
}

/// object.c: createStringObject, for an argument that will be stored in the keyspace.
///
/// Arguments are slices of the client's query buffer; storing one as is would keep the
/// whole 16 KiB read buffer alive for as long as the key lives. Redis copies small
/// arguments into a new object and keeps a big one (which had a buffer of its own);
/// this does the same.
pub fn create_string_object(arg: &Bytes) -> Bytes {
    if arg.len() >= crate::networking::PROTO_MBULK_BIG_ARG {
        arg.clone()
    } else {
        Bytes::copy_from_slice(arg)
    }
}

/// What INFO memory reports about where memory goes (server.h: redisMemOverhead).
pub struct MemOverhead {
    pub startup_allocated: usize,
    pub overhead_total: usize,
    pub dataset: usize,
    pub dataset_perc: f64,
}

/// object.c: getMemoryOverheadData
///
/// Overhead is what is not the data: memory used at startup, client buffers, and
/// the hash tables themselves (bucket arrays and entries of both dicts of every db).
pub fn get_memory_overhead_data(s: &Server, current: Option<&Client>) -> MemOverhead {
    let used = crate::zmalloc::used_memory();
    let mut overhead = s.initial_memory_usage;
    for c in s.other_clients().chain(current) {
        overhead += c.querybuf.capacity() + c.buf.capacity() + c.reply_bytes;
    }
    for db in &s.db {
        overhead += db.dict.table_bytes() + db.expires.table_bytes();
    }
    let overhead = overhead.min(used);
    let dataset = used - overhead;
    let net_usage = used.saturating_sub(s.initial_memory_usage).max(1);
    MemOverhead {
        startup_allocated: s.initial_memory_usage,
        overhead_total: overhead,
        dataset,
        dataset_perc: dataset as f64 * 100.0 / net_usage as f64,
    }
}

/// object.c: memoryCommand (USAGE and HELP)
pub fn memory_command(s: &mut Server, c: &mut Client) {
    let sub = c.argv[1].to_ascii_lowercase();
    if sub == b"help" && c.argv.len() == 2 {
        add_reply_help(
            c,
            &[
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
            ],
        );
    } else if sub == b"usage" && c.argv.len() >= 3 {
        let mut j = 3;
        while j < c.argv.len() {
            if c.argv[j].eq_ignore_ascii_case(b"samples") && j + 1 < c.argv.len() {
                let Some(samples) = get_long_long_from_object_or_reply(s, c, j + 1) else {
                    return;
                };
                if samples < 0 {
                    add_reply_error(s, c, crate::resp::shared::SYNTAXERR);
                    return;
                }
                j += 1;
            } else {
                add_reply_error(s, c, crate::resp::shared::SYNTAXERR);
                return;
            }
            j += 1;
        }
        let key = c.argv[2].clone();
        let Some(e) = s.db[c.db].dict.get(&key) else {
            c.add_reply_null();
            return;
        };
        // The value, the key's buffer and the dict entry that holds them.
        let usage = e.val.compute_size()
            + e.key.len()
            + std::mem::size_of::<crate::dict::DictEntry<Bytes, RObj>>();
        c.add_reply_long_long(usage as i64);
    } else {
        add_reply_subcommand_syntax_error(s, c);
    }
}

/// What a lookup found at a key that should hold one type of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Missing,
    WrongType,
    Found,
}

/// db.c: lookupKeyRead / lookupKeyWrite, followed by object.c: checkType with
/// `is_type` standing for the expected OBJ_* type.
pub fn lookup_key_typed(
    s: &mut Server,
    dbid: usize,
    key: &[u8],
    write: bool,
    is_type: fn(&Value) -> bool,
) -> Found {
    let o = if write {
        crate::db::lookup_key_write(s, dbid, key)
    } else {
        crate::db::lookup_key_read(s, dbid, key)
    };
    match o {
        None => Found::Missing,
        Some(o) if is_type(&o.ptr) => Found::Found,
        Some(_) => Found::WrongType,
    }
}

/// object.c: checkType's reply
pub fn wrongtype(s: &mut Server, c: &mut Client) {
    add_reply_error(s, c, crate::resp::shared::WRONGTYPEERR);
}
