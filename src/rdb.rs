//! Port of rdb.c: the RDB serialization of values (what DUMP sends and RESTORE reads).
//!
//! Saving writes exactly Redis 7.0.15's bytes for every type and encoding: strings
//! with their integer and LZF forms, lists as quicklist nodes of listpacks, small
//! hashes and sorted sets as listpack blobs, integer sets as intset blobs, and the
//! big encodings element by element. Loading accepts those and the older encodings
//! 7.0 still reads (plain types, ziplists, RDB_TYPE_LIST_QUICKLIST), validating every
//! blob fully: a hostile payload is an error, never a panic or a huge allocation.

use bytes::Bytes;

use crate::dict::Dict;
use crate::intset::{intset_blob, intset_validate_and_decode};
use crate::listpack::{lp_validate_and_decode, Listpack};
use crate::object::{initial_lru, RObj, Value};
use crate::server::Server;
use crate::t_hash::Hash;
use crate::t_list::List;
use crate::t_set::Set;
use crate::t_zset::{ZSet, Zskiplist};
use crate::ziplist::ziplist_validate_and_decode;

/// rdb.h: RDB_VERSION
pub const RDB_VERSION: u16 = 10;

// rdb.h: length encodings
const RDB_6BITLEN: u8 = 0;
const RDB_14BITLEN: u8 = 1;
const RDB_32BITLEN: u8 = 0x80;
const RDB_64BITLEN: u8 = 0x81;
const RDB_ENCVAL: u8 = 3;
// rdb.h: special string encodings (RDB_ENCVAL)
const RDB_ENC_INT8: u8 = 0;
const RDB_ENC_INT16: u8 = 1;
const RDB_ENC_INT32: u8 = 2;
const RDB_ENC_LZF: u8 = 3;

// rdb.h: object types
pub const RDB_TYPE_STRING: u8 = 0;
pub const RDB_TYPE_LIST: u8 = 1;
pub const RDB_TYPE_SET: u8 = 2;
pub const RDB_TYPE_ZSET: u8 = 3;
pub const RDB_TYPE_HASH: u8 = 4;
pub const RDB_TYPE_ZSET_2: u8 = 5;
pub const RDB_TYPE_MODULE_2: u8 = 7;
pub const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
pub const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
pub const RDB_TYPE_SET_INTSET: u8 = 11;
pub const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
pub const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
pub const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
pub const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
pub const RDB_TYPE_HASH_LISTPACK: u8 = 16;
pub const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
pub const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// quicklist.h: QUICKLIST_NODE_CONTAINER_PLAIN / _PACKED
const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;
/// quicklist.c: optimization_level (node byte limits for fill -1 .. -5)
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// quicklist.c: SIZE_SAFETY_LIMIT
const SIZE_SAFETY_LIMIT: usize = 8192;
/// quicklist.c: SIZE_ESTIMATE_OVERHEAD
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// quicklist.c: MIN_COMPRESS_BYTES / MIN_COMPRESS_IMPROVE
const MIN_COMPRESS_BYTES: usize = 48;
const MIN_COMPRESS_IMPROVE: usize = 8;

/// Why a value could not be loaded (rdb.h: RDB_LOAD_ERR_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// The value was well formed but empty (RDB_LOAD_ERR_EMPTY_KEY).
    EmptyKey,
    /// Anything else: truncated, corrupt, unsupported (RDB_LOAD_ERR_OTHER).
    Other,
}

type LoadResult<T> = Result<T, LoadError>;

/// A buffer being read (rio.c's buffer target, read side).
pub struct Rio<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Rio<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Rio { buf, pos: 0 }
    }

    /// rio.h: rioRead (all or nothing)
    pub fn read(&mut self, n: usize) -> LoadResult<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(LoadError::Other)?;
        let s = self.buf.get(self.pos..end).ok_or(LoadError::Other)?;
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

// ---------------------------------------------------------------- saving

/// rdb.c: rdbSaveType
fn rdb_save_type(out: &mut Vec<u8>, t: u8) {
    out.push(t);
}

/// rdb.c: rdbSaveLen
pub fn rdb_save_len(out: &mut Vec<u8>, len: u64) {
    if len < (1 << 6) {
        out.push((len as u8) | (RDB_6BITLEN << 6));
    } else if len < (1 << 14) {
        out.push(((len >> 8) as u8) | (RDB_14BITLEN << 6));
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(RDB_32BITLEN);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(RDB_64BITLEN);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// rdb.c: rdbEncodeInteger (the 8, 16 or 32 bit forms; false when it does not fit)
fn rdb_encode_integer(out: &mut Vec<u8>, v: i64) -> bool {
    if (-(1 << 7)..(1 << 7)).contains(&v) {
        out.push((RDB_ENCVAL << 6) | RDB_ENC_INT8);
        out.push(v as u8);
    } else if (-(1 << 15)..(1 << 15)).contains(&v) {
        out.push((RDB_ENCVAL << 6) | RDB_ENC_INT16);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1i64 << 31)..(1i64 << 31)).contains(&v) {
        out.push((RDB_ENCVAL << 6) | RDB_ENC_INT32);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// rdb.c: rdbSaveLzfBlob
fn rdb_save_lzf_blob(out: &mut Vec<u8>, data: &[u8], original_len: usize) {
    out.push((RDB_ENCVAL << 6) | RDB_ENC_LZF);
    rdb_save_len(out, data.len() as u64);
    rdb_save_len(out, original_len as u64);
    out.extend_from_slice(data);
}

/// rdb.c: rdbSaveLzfStringObject (false when compressing saves under 4 bytes)
fn rdb_save_lzf_string_object(out: &mut Vec<u8>, s: &[u8]) -> bool {
    if s.len() <= 4 {
        return false;
    }
    match crate::lzf::lzf_compress(s, s.len() - 4) {
        Some(c) => {
            rdb_save_lzf_blob(out, &c, s.len());
            true
        }
        None => false,
    }
}

/// rdb.c: rdbSaveRawString (integer form, else LZF when `rdbcompression` is on and
/// the string is over 20 bytes, else length and bytes)
pub fn rdb_save_raw_string(out: &mut Vec<u8>, s: &[u8], compression: bool) {
    if s.len() <= 11 {
        if let Some(v) = crate::util::string2ll(s) {
            if rdb_encode_integer(out, v) {
                return;
            }
        }
    }
    if compression && s.len() > 20 && rdb_save_lzf_string_object(out, s) {
        return;
    }
    rdb_save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// rdb.c: rdbSaveLongLongAsStringObject
fn rdb_save_long_long_as_string_object(out: &mut Vec<u8>, v: i64) {
    if !rdb_encode_integer(out, v) {
        let mut b = itoa::Buffer::new();
        let t = b.format(v);
        rdb_save_len(out, t.len() as u64);
        out.extend_from_slice(t.as_bytes());
    }
}

/// rdb.c: rdbSaveBinaryDoubleValue (little-endian IEEE 754)
fn rdb_save_binary_double_value(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// rdb.c: rdbSaveObjectType
pub fn rdb_save_object_type(out: &mut Vec<u8>, o: &RObj) {
    let t = match &o.ptr {
        Value::Int(_) | Value::EmbStr(_) | Value::Raw(_) => RDB_TYPE_STRING,
        Value::List(_) => RDB_TYPE_LIST_QUICKLIST_2,
        Value::Set(x) => match **x {
            Set::Intset(_) => RDB_TYPE_SET_INTSET,
            Set::HashTable(_) => RDB_TYPE_SET,
        },
        Value::ZSet(z) => match **z {
            ZSet::Listpack(_) => RDB_TYPE_ZSET_LISTPACK,
            ZSet::Skiplist { .. } => RDB_TYPE_ZSET_2,
        },
        Value::Hash(h) => match **h {
            Hash::Listpack(_) => RDB_TYPE_HASH_LISTPACK,
            Hash::HashTable(_) => RDB_TYPE_HASH,
        },
    };
    rdb_save_type(out, t);
}

/// util.c: double2ll (a score a listpack stores as an integer)
fn double2ll(d: f64) -> Option<i64> {
    let half = (i64::MAX / 2) as f64;
    if d < -half || d > half {
        return None;
    }
    let ll = d as i64;
    if ll as f64 == d {
        Some(ll)
    } else {
        None
    }
}

/// The elements of a list split into listpack nodes as quicklistPushTail would
/// have split them (quicklist.c: _quicklistNodeAllowInsert under `fill`).
///
/// Ferredis keeps a list as one deque, so the node boundaries are those of a list
/// built by RPUSH alone: exact for any list that fits one node (8 KiB by default),
/// and for longer lists built from the tail.
fn quicklist_nodes(l: &List, fill: i64) -> Vec<Listpack> {
    let mut nodes: Vec<Listpack> = Vec::new();
    for e in l.elements.iter() {
        let allow = match nodes.last() {
            None => false,
            Some(node) => {
                let new_sz = node.bytes() + e.len() + SIZE_ESTIMATE_OVERHEAD;
                let level = if fill < 0 {
                    OPTIMIZATION_LEVEL.get((-fill - 1) as usize)
                } else {
                    None
                };
                match level {
                    Some(&max) if new_sz <= max => true,
                    _ if new_sz > SIZE_SAFETY_LIMIT => false,
                    _ => (node.len() as i64) < fill,
                }
            }
        };
        if !allow {
            nodes.push(Listpack::new());
        }
        nodes.last_mut().expect("a node").append(e);
    }
    nodes
}

/// rdb.c: rdbSaveObject, for every type Ferredis has.
pub fn rdb_save_object(s: &Server, out: &mut Vec<u8>, o: &RObj) {
    let compression = s.config.rdbcompression;
    match &o.ptr {
        Value::Int(v) => rdb_save_long_long_as_string_object(out, *v),
        Value::EmbStr(b) => rdb_save_raw_string(out, b, compression),
        Value::Raw(b) => rdb_save_raw_string(out, b, compression),
        Value::List(l) => {
            let nodes = quicklist_nodes(l, s.config.list_max_listpack_size);
            let depth = s.config.list_compress_depth.max(0) as usize;
            let n = nodes.len();
            rdb_save_len(out, n as u64);
            for (i, node) in nodes.into_iter().enumerate() {
                rdb_save_len(out, QUICKLIST_NODE_CONTAINER_PACKED);
                let blob = node.finish();
                // Inner nodes beyond `depth` from either end are kept LZF-compressed
                // by the quicklist (quicklist.c: __quicklistCompressNode), and saved so.
                let inner = depth > 0 && i >= depth && i + depth < n;
                if inner && blob.len() >= MIN_COMPRESS_BYTES {
                    if let Some(c) = crate::lzf::lzf_compress(&blob, blob.len()) {
                        if c.len() + MIN_COMPRESS_IMPROVE < blob.len() {
                            rdb_save_lzf_blob(out, &c, blob.len());
                            continue;
                        }
                    }
                }
                rdb_save_raw_string(out, &blob, compression);
            }
        }
        Value::Set(x) => match &**x {
            Set::Intset(v) => rdb_save_raw_string(out, &intset_blob(v), compression),
            Set::HashTable(d) => {
                rdb_save_len(out, d.len() as u64);
                for e in d.iter() {
                    rdb_save_raw_string(out, &e.key, compression);
                }
            }
        },
        Value::ZSet(z) => match &**z {
            ZSet::Listpack(v) => {
                let mut lp = Listpack::new();
                for (ele, score) in v {
                    lp.append(ele);
                    match double2ll(*score) {
                        Some(i) => lp.append_integer(i),
                        None => lp.append(crate::util::d2string(*score).as_bytes()),
                    }
                }
                rdb_save_raw_string(out, &lp.finish(), compression);
            }
            ZSet::Skiplist { zsl, .. } => {
                rdb_save_len(out, zsl.len() as u64);
                // From the tail, so loading inserts each at the head.
                let pairs: Vec<(&Bytes, f64)> = zsl.iter().collect();
                for (ele, score) in pairs.into_iter().rev() {
                    rdb_save_raw_string(out, ele, compression);
                    rdb_save_binary_double_value(out, score);
                }
            }
        },
        Value::Hash(h) => match &**h {
            Hash::Listpack(v) => {
                let mut lp = Listpack::new();
                for (f, x) in v {
                    lp.append(f);
                    lp.append(x);
                }
                rdb_save_raw_string(out, &lp.finish(), compression);
            }
            Hash::HashTable(d) => {
                rdb_save_len(out, d.len() as u64);
                for e in d.iter() {
                    rdb_save_raw_string(out, &e.key, compression);
                    rdb_save_raw_string(out, &e.val, compression);
                }
            }
        },
    }
}

/// rdb.c: rdbSavedObjectLen (what DEBUG OBJECT reports as serializedlength)
pub fn rdb_saved_object_len(s: &Server, o: &RObj) -> usize {
    let mut out = Vec::new();
    rdb_save_object(s, &mut out, o);
    out.len()
}

// ---------------------------------------------------------------- loading

/// rdb.c: rdbLoadType
fn rdb_load_type(r: &mut Rio) -> LoadResult<u8> {
    Ok(r.read(1)?[0])
}

/// rdb.c: rdbLoadObjectType (rdbIsObjectType: a value type, not an opcode)
pub fn rdb_load_object_type(r: &mut Rio) -> LoadResult<u8> {
    let t = rdb_load_type(r)?;
    if (0..=7).contains(&t) || (9..=19).contains(&t) {
        Ok(t)
    } else {
        Err(LoadError::Other)
    }
}

/// rdb.c: rdbLoadLenByRef: the length, and whether it is a special encoding.
pub fn rdb_load_len_by_ref(r: &mut Rio) -> LoadResult<(u64, bool)> {
    let b = r.read(1)?[0];
    match (b & 0xC0) >> 6 {
        RDB_ENCVAL => Ok(((b & 0x3F) as u64, true)),
        RDB_6BITLEN => Ok(((b & 0x3F) as u64, false)),
        RDB_14BITLEN => {
            let b2 = r.read(1)?[0];
            Ok(((((b & 0x3F) as u64) << 8) | b2 as u64, false))
        }
        _ if b == RDB_32BITLEN => {
            let v = u32::from_be_bytes(r.read(4)?.try_into().unwrap());
            Ok((v as u64, false))
        }
        _ if b == RDB_64BITLEN => {
            let v = u64::from_be_bytes(r.read(8)?.try_into().unwrap());
            Ok((v, false))
        }
        _ => Err(LoadError::Other),
    }
}

/// rdb.c: rdbLoadLen
fn rdb_load_len(r: &mut Rio) -> LoadResult<u64> {
    Ok(rdb_load_len_by_ref(r)?.0)
}

/// A count read from the payload, bounded by what the rest of the payload could
/// hold (every element takes a byte at least), so a forged count cannot make us
/// presize a huge table.
fn rdb_load_count(r: &mut Rio) -> LoadResult<usize> {
    let n = rdb_load_len(r)?;
    if n > r.remaining() as u64 {
        return Err(LoadError::Other);
    }
    Ok(n as usize)
}

/// rdb.c: rdbGenericLoadStringObject (the bytes of any string encoding)
pub fn rdb_generic_load_string_object(r: &mut Rio) -> LoadResult<Bytes> {
    let (len, encoded) = rdb_load_len_by_ref(r)?;
    if encoded {
        let v: i64 = match len as u8 {
            RDB_ENC_INT8 => r.read(1)?[0] as i8 as i64,
            RDB_ENC_INT16 => i16::from_le_bytes(r.read(2)?.try_into().unwrap()) as i64,
            RDB_ENC_INT32 => i32::from_le_bytes(r.read(4)?.try_into().unwrap()) as i64,
            RDB_ENC_LZF => return rdb_load_lzf_string_object(r),
            _ => return Err(LoadError::Other),
        };
        return Ok(Bytes::copy_from_slice(
            itoa::Buffer::new().format(v).as_bytes(),
        ));
    }
    if len > r.remaining() as u64 {
        return Err(LoadError::Other);
    }
    Ok(Bytes::copy_from_slice(r.read(len as usize)?))
}

/// rdb.c: rdbLoadLzfStringObject
fn rdb_load_lzf_string_object(r: &mut Rio) -> LoadResult<Bytes> {
    let clen = rdb_load_len(r)?;
    let len = rdb_load_len(r)?;
    if clen > r.remaining() as u64 {
        return Err(LoadError::Other);
    }
    // LZF expands at most ~132 times (a 2-byte reference for 264 bytes); a larger
    // claimed length is corrupt, and refusing it bounds the allocation.
    if len > clen.saturating_mul(132).saturating_add(64) {
        return Err(LoadError::Other);
    }
    let c = r.read(clen as usize)?;
    crate::lzf::lzf_decompress(c, len as usize)
        .map(Bytes::from)
        .ok_or(LoadError::Other)
}

/// rdb.c: rdbLoadBinaryDoubleValue
fn rdb_load_binary_double_value(r: &mut Rio) -> LoadResult<f64> {
    Ok(f64::from_le_bytes(r.read(8)?.try_into().unwrap()))
}

/// rdb.c: rdbLoadDoubleValue (the old text form: length byte, 253..255 special)
fn rdb_load_double_value(r: &mut Rio) -> LoadResult<f64> {
    let len = r.read(1)?[0];
    match len {
        255 => Ok(f64::NEG_INFINITY),
        254 => Ok(f64::INFINITY),
        253 => Ok(f64::NAN),
        _ => {
            let b = r.read(len as usize)?;
            let t = std::str::from_utf8(b).map_err(|_| LoadError::Other)?;
            t.trim().parse::<f64>().map_err(|_| LoadError::Other)
        }
    }
}

fn new_obj(s: &Server, ptr: Value) -> RObj {
    RObj {
        lru: initial_lru(s),
        shared: false,
        ptr,
    }
}

/// A list from its elements (quicklistAppendListpack / quicklistPushTail).
fn list_from(s: &Server, elements: Vec<Bytes>) -> LoadResult<RObj> {
    if elements.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let l = List {
        elements: elements.into(),
    };
    Ok(new_obj(s, Value::List(Box::new(l))))
}

/// A hash from field/value pairs, refusing duplicate fields, converted past the
/// entry-count or value-length thresholds (t_hash.c: hashTypeConvert).
fn hash_from_pairs(s: &Server, items: Vec<Bytes>, check_len: bool) -> LoadResult<RObj> {
    if !items.len().is_multiple_of(2) {
        return Err(LoadError::Other);
    }
    if items.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let n = items.len() / 2;
    let mut d: Dict<Bytes, Bytes> = Dict::new();
    d.expand(n);
    let mut pairs = Vec::with_capacity(n);
    let mut too_long = false;
    let mut it = items.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        if check_len
            && (f.len() > s.config.hash_max_listpack_value
                || v.len() > s.config.hash_max_listpack_value)
        {
            too_long = true;
        }
        if d.add(f.clone(), v.clone()).is_err() {
            return Err(LoadError::Other);
        }
        pairs.push((f, v));
    }
    let h = if n > s.config.hash_max_listpack_entries || too_long {
        Hash::HashTable(d)
    } else {
        Hash::Listpack(pairs)
    };
    Ok(new_obj(s, Value::Hash(Box::new(h))))
}

/// A sorted set from (member, score) pairs: NaN and duplicate members refused;
/// a listpack when small enough (t_zset.c: zsetConvert), kept in (score, member)
/// order whatever order the payload had.
fn zset_from_pairs(
    s: &Server,
    pairs: Vec<(Bytes, f64)>,
    listpack_source: bool,
) -> LoadResult<RObj> {
    if pairs.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let mut dict: Dict<Bytes, f64> = Dict::new();
    dict.expand(pairs.len());
    let mut maxelelen = 0;
    let mut totelelen = 0;
    for (e, sc) in &pairs {
        if sc.is_nan() || dict.add(e.clone(), *sc).is_err() {
            return Err(LoadError::Other);
        }
        maxelelen = maxelelen.max(e.len());
        totelelen += e.len();
    }
    let max_entries = s.config.zset_max_listpack_entries;
    let small = if listpack_source {
        pairs.len() <= max_entries
    } else {
        pairs.len() <= max_entries
            && maxelelen <= s.config.zset_max_listpack_value
            && totelelen <= crate::t_hash::LISTPACK_MAX_SAFETY_SIZE
    };
    let z = if small {
        let mut v = pairs;
        let sorted = v
            .windows(2)
            .all(|w| w[0].1 < w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0));
        if !sorted {
            v.sort_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            });
        }
        for p in v.iter_mut() {
            // A listpack keeps no negative zero (double2ll stores it as 0).
            if p.1 == 0.0 {
                p.1 = 0.0;
            }
        }
        ZSet::Listpack(v)
    } else {
        let mut zsl = Zskiplist::new();
        for (e, sc) in pairs {
            zsl.insert(sc, e);
        }
        ZSet::Skiplist {
            dict,
            zsl: Box::new(zsl),
        }
    };
    Ok(new_obj(s, Value::ZSet(Box::new(z))))
}

/// (member, score) pairs out of a listpack or ziplist's flat element list.
fn score_pairs(items: Vec<Bytes>) -> LoadResult<Vec<(Bytes, f64)>> {
    if !items.len().is_multiple_of(2) {
        return Err(LoadError::Other);
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(e), Some(sc)) = (it.next(), it.next()) {
        let v = crate::util::string2d(&sc).ok_or(LoadError::Other)?;
        out.push((e, v));
    }
    Ok(out)
}

/// A set from its members: an intset while every member is an integer and there
/// are few enough, else a dict; duplicates refused.
fn set_from_members(s: &Server, members: Vec<Bytes>) -> LoadResult<RObj> {
    if members.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let max_entries = s.config.set_max_intset_entries.min(1 << 30);
    if members.len() <= max_entries {
        let ints: Option<Vec<i64>> = members.iter().map(|m| crate::util::string2ll(m)).collect();
        if let Some(mut v) = ints {
            v.sort_unstable();
            if v.windows(2).any(|w| w[0] == w[1]) {
                return Err(LoadError::Other);
            }
            return Ok(new_obj(s, Value::Set(Box::new(Set::Intset(v.into())))));
        }
    }
    let mut d: Dict<Bytes, ()> = Dict::new();
    d.expand(members.len());
    for m in members {
        if d.add(m, ()).is_err() {
            return Err(LoadError::Other);
        }
    }
    Ok(new_obj(s, Value::Set(Box::new(Set::HashTable(d)))))
}

/// rdb.c: rdbLoadObject, for every type Ferredis has (no modules, no streams yet).
pub fn rdb_load_object(s: &Server, rdbtype: u8, r: &mut Rio) -> LoadResult<RObj> {
    match rdbtype {
        RDB_TYPE_STRING => {
            let b = rdb_generic_load_string_object(r)?;
            Ok(crate::object::try_object_encoding(s, b))
        }
        RDB_TYPE_LIST => {
            let n = rdb_load_count(r)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(rdb_generic_load_string_object(r)?);
            }
            list_from(s, v)
        }
        RDB_TYPE_SET => {
            let n = rdb_load_count(r)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(rdb_generic_load_string_object(r)?);
            }
            set_from_members(s, v)
        }
        RDB_TYPE_ZSET_2 | RDB_TYPE_ZSET => {
            let n = rdb_load_count(r)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let e = rdb_generic_load_string_object(r)?;
                let sc = if rdbtype == RDB_TYPE_ZSET_2 {
                    rdb_load_binary_double_value(r)?
                } else {
                    rdb_load_double_value(r)?
                };
                v.push((e, sc));
            }
            zset_from_pairs(s, v, false)
        }
        RDB_TYPE_HASH => {
            let n = rdb_load_count(r)?;
            let mut v = Vec::with_capacity(n.min(r.remaining()) * 2);
            for _ in 0..n * 2 {
                v.push(rdb_generic_load_string_object(r)?);
            }
            hash_from_pairs(s, v, true)
        }
        RDB_TYPE_LIST_QUICKLIST | RDB_TYPE_LIST_QUICKLIST_2 => {
            let n = rdb_load_count(r)?;
            let mut v = Vec::new();
            for _ in 0..n {
                let mut container = QUICKLIST_NODE_CONTAINER_PACKED;
                if rdbtype == RDB_TYPE_LIST_QUICKLIST_2 {
                    container = rdb_load_len(r)?;
                    if container != QUICKLIST_NODE_CONTAINER_PACKED
                        && container != QUICKLIST_NODE_CONTAINER_PLAIN
                    {
                        return Err(LoadError::Other);
                    }
                }
                let data = rdb_generic_load_string_object(r)?;
                if data.is_empty() {
                    return Err(LoadError::Other);
                }
                if container == QUICKLIST_NODE_CONTAINER_PLAIN {
                    v.push(data);
                    continue;
                }
                let items = if rdbtype == RDB_TYPE_LIST_QUICKLIST_2 {
                    lp_validate_and_decode(&data)
                } else {
                    ziplist_validate_and_decode(&data)
                };
                v.extend(items.ok_or(LoadError::Other)?);
            }
            list_from(s, v)
        }
        RDB_TYPE_LIST_ZIPLIST
        | RDB_TYPE_SET_INTSET
        | RDB_TYPE_ZSET_ZIPLIST
        | RDB_TYPE_ZSET_LISTPACK
        | RDB_TYPE_HASH_ZIPLIST
        | RDB_TYPE_HASH_LISTPACK => {
            let blob = rdb_generic_load_string_object(r)?;
            match rdbtype {
                RDB_TYPE_LIST_ZIPLIST => list_from(
                    s,
                    ziplist_validate_and_decode(&blob).ok_or(LoadError::Other)?,
                ),
                RDB_TYPE_SET_INTSET => {
                    let v = intset_validate_and_decode(&blob).ok_or(LoadError::Other)?;
                    let mut set = Set::Intset(v);
                    if set.len() > s.config.set_max_intset_entries {
                        set.convert();
                    }
                    Ok(new_obj(s, Value::Set(Box::new(set))))
                }
                RDB_TYPE_ZSET_ZIPLIST | RDB_TYPE_ZSET_LISTPACK => {
                    let items = if rdbtype == RDB_TYPE_ZSET_LISTPACK {
                        lp_validate_and_decode(&blob)
                    } else {
                        ziplist_validate_and_decode(&blob)
                    };
                    zset_from_pairs(s, score_pairs(items.ok_or(LoadError::Other)?)?, true)
                }
                _ => {
                    let items = if rdbtype == RDB_TYPE_HASH_LISTPACK {
                        lp_validate_and_decode(&blob)
                    } else {
                        ziplist_validate_and_decode(&blob)
                    };
                    hash_from_pairs(s, items.ok_or(LoadError::Other)?, false)
                }
            }
        }
        // Zipmaps (pre-2.6), modules and streams: not supported by this port.
        _ => Err(LoadError::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// One value of every type and encoding, as RDB payload bodies.
    fn samples(s: &Server) -> Vec<RObj> {
        let mut out = Vec::new();
        for v in [
            &b"hello"[..],
            b"12345",
            b"-70000",
            b"99999999999",
            &[b'q'; 100],
        ] {
            out.push(crate::object::try_object_encoding(
                s,
                Bytes::copy_from_slice(v),
            ));
        }
        let list = List {
            elements: (0..3000).map(|i| b(&format!("e{}", i % 97))).collect(),
        };
        out.push(new_obj(s, Value::List(Box::new(list))));
        let pairs: Vec<(Bytes, Bytes)> = (0..600)
            .map(|i| (b(&format!("f{i}")), b(&i.to_string())))
            .collect();
        out.push(new_obj(
            s,
            Value::Hash(Box::new(Hash::Listpack(pairs[..5].to_vec()))),
        ));
        let mut big = Hash::Listpack(pairs);
        big.convert();
        out.push(new_obj(s, Value::Hash(Box::new(big))));
        out.push(new_obj(
            s,
            Value::Set(Box::new(Set::Intset(vec![-5, 1, 70000, 1 << 40].into()))),
        ));
        let mut d = Dict::new();
        for m in ["a", "b", "-0", "7"] {
            let _ = d.add(b(m), ());
        }
        let hs = Set::HashTable(d);
        out.push(new_obj(s, Value::Set(Box::new(hs))));
        let pairs: Vec<(Bytes, f64)> = (0..200)
            .map(|i| (b(&format!("m{i:03}")), i as f64 * 1.5 - 30.0))
            .collect();
        out.push(new_obj(
            s,
            Value::ZSet(Box::new(ZSet::Listpack(pairs[..20].to_vec()))),
        ));
        let mut z = ZSet::Listpack(pairs);
        z.convert(true);
        out.push(new_obj(s, Value::ZSet(Box::new(z))));
        out
    }

    fn server() -> Server {
        let config = Config {
            port: 0,
            ..Config::default()
        };
        Server::new(config).unwrap()
    }

    fn load(s: &Server, p: &[u8]) -> LoadResult<RObj> {
        let mut r = Rio::new(p);
        let t = rdb_load_object_type(&mut r)?;
        rdb_load_object(s, t, &mut r)
    }

    #[test]
    fn round_trip_every_encoding() {
        let s = server();
        for o in samples(&s) {
            let mut p = Vec::new();
            rdb_save_object_type(&mut p, &o);
            rdb_save_object(&s, &mut p, &o);
            let back = load(&s, &p).unwrap();
            assert_eq!(back.ptr, o.ptr, "{}", o.encoding_name());
        }
    }

    /// Hostile payloads: thousands of random mutations of valid ones either load
    /// (and can be saved again) or fail; none panics or allocates without bound.
    #[test]
    fn mutated_payloads_never_crash() {
        let s = server();
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut loaded, mut failed) = (0, 0);
        for o in samples(&s) {
            let mut p = Vec::new();
            rdb_save_object_type(&mut p, &o);
            rdb_save_object(&s, &mut p, &o);
            for _ in 0..400 {
                let mut m = p.clone();
                for _ in 0..1 + rnd() % 4 {
                    let at = (rnd() as usize) % m.len();
                    match rnd() % 4 {
                        0 => m[at] = rnd() as u8,
                        1 => m[at] ^= 1 << (rnd() % 8),
                        2 => m.truncate(at.max(1)),
                        _ => m.insert(at, rnd() as u8),
                    }
                }
                match load(&s, &m) {
                    Ok(o) => {
                        let mut again = Vec::new();
                        rdb_save_object(&s, &mut again, &o);
                        loaded += 1;
                    }
                    Err(_) => failed += 1,
                }
            }
        }
        assert!(loaded > 0 && failed > 0, "loaded {loaded}, failed {failed}");
    }
}
