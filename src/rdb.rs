//! Port of rdb.c: the RDB format: values (what DUMP sends and RESTORE reads), whole
//! files (SAVE, BGSAVE in a forked child, loading at start-up), and save points.
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

// rdb.h: special opcodes (before a key, or in place of one)
/// rdb.h: RDB_OPCODE_FUNCTION2
pub const RDB_OPCODE_FUNCTION2: u8 = 245;
/// rdb.h: RDB_OPCODE_FUNCTION (7.0 release candidates)
pub const RDB_OPCODE_FUNCTION: u8 = 246;
/// rdb.h: RDB_OPCODE_MODULE_AUX
pub const RDB_OPCODE_MODULE_AUX: u8 = 247;
/// rdb.h: RDB_OPCODE_IDLE
pub const RDB_OPCODE_IDLE: u8 = 248;
/// rdb.h: RDB_OPCODE_FREQ
pub const RDB_OPCODE_FREQ: u8 = 249;
/// rdb.h: RDB_OPCODE_AUX
pub const RDB_OPCODE_AUX: u8 = 250;
/// rdb.h: RDB_OPCODE_RESIZEDB
pub const RDB_OPCODE_RESIZEDB: u8 = 251;
/// rdb.h: RDB_OPCODE_EXPIRETIME_MS
pub const RDB_OPCODE_EXPIRETIME_MS: u8 = 252;
/// rdb.h: RDB_OPCODE_EXPIRETIME
pub const RDB_OPCODE_EXPIRETIME: u8 = 253;
/// rdb.h: RDB_OPCODE_SELECTDB
pub const RDB_OPCODE_SELECTDB: u8 = 254;
/// rdb.h: RDB_OPCODE_EOF
pub const RDB_OPCODE_EOF: u8 = 255;

// rdb.h: RDBFLAGS_* (how a whole stream is saved or loaded)
/// rdb.h: RDBFLAGS_NONE
pub const RDBFLAGS_NONE: i32 = 0;
/// rdb.h: RDBFLAGS_AOF_PREAMBLE (the base of an AOF: aof-base 1, expired keys kept)
pub const RDBFLAGS_AOF_PREAMBLE: i32 = 1 << 0;
/// rdb.h: RDBFLAGS_REPLICATION
pub const RDBFLAGS_REPLICATION: i32 = 1 << 1;
/// rdb.h: RDBFLAGS_ALLOW_DUP (a loaded key replaces an existing one)
pub const RDBFLAGS_ALLOW_DUP: i32 = 1 << 2;
/// rdb.h: RDBFLAGS_FEED_REPL
pub const RDBFLAGS_FEED_REPL: i32 = 1 << 3;

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

/// A stream being read (rio.c's read side): a buffer in memory (a DUMP payload, a
/// replication buffer) or a file read through a window that refills as the loader
/// asks for more (rio.c's file target), so a big file is never held whole.
pub struct Rio<'a> {
    /// The bytes from stream offset `base` on: the whole stream, or the file's window.
    buf: std::borrow::Cow<'a, [u8]>,
    base: usize,
    /// The stream offset of the next byte to read.
    pub pos: usize,
    /// The stream's length (the file's size when it was opened).
    len: usize,
    file: Option<std::fs::File>,
    /// The CRC-64 of the bytes from the checksum's start to `cksum_pos`.
    cksum: u64,
    cksum_pos: usize,
    /// Where the loading progress was last reported (rio's processed_bytes as seen
    /// by rdbLoadProgressCallback).
    pub progress_pos: usize,
}

/// How much a file-backed Rio reads at least per refill.
const RIO_FILE_CHUNK: usize = 64 * 1024;

impl<'a> Rio<'a> {
    /// rio.c: rioInitWithBuffer
    pub fn new(buf: &'a [u8]) -> Self {
        Rio {
            len: buf.len(),
            buf: std::borrow::Cow::Borrowed(buf),
            base: 0,
            pos: 0,
            file: None,
            cksum: 0,
            cksum_pos: 0,
            progress_pos: 0,
        }
    }

    /// rio.c: rioInitWithFile (reading from the file's current position, which the
    /// stream's offset 0 stands for; `len` bytes at most)
    pub fn with_file(file: std::fs::File, len: usize) -> Rio<'static> {
        Rio {
            len,
            buf: std::borrow::Cow::Owned(Vec::new()),
            base: 0,
            pos: 0,
            file: Some(file),
            cksum: 0,
            cksum_pos: 0,
            progress_pos: 0,
        }
    }

    /// rio.h: rioRead (all or nothing)
    pub fn read(&mut self, n: usize) -> LoadResult<&[u8]> {
        let end = match self.pos.checked_add(n) {
            Some(end) if end <= self.len => end,
            _ => return Err(self.short_read()),
        };
        if end > self.base + self.buf.len() && !self.fill(end) {
            return Err(self.short_read());
        }
        let from = self.pos - self.base;
        self.pos = end;
        Ok(&self.buf[from..end - self.base])
    }

    /// Refills a file's window so it reaches stream offset `end`: what was read
    /// already is folded into the checksum and dropped first.
    fn fill(&mut self, end: usize) -> bool {
        if self.file.is_none() {
            return false;
        }
        self.fold_checksum();
        let consumed = self.pos - self.base;
        let want = (end - self.pos)
            .max(RIO_FILE_CHUNK)
            .min(self.len - self.pos);
        let buf = self.buf.to_mut();
        buf.drain(..consumed);
        self.base = self.pos;
        let have = buf.len();
        if have < want {
            buf.resize(want, 0);
            let file = self.file.as_mut().expect("checked above");
            if std::io::Read::read_exact(file, &mut buf[have..]).is_err() {
                buf.truncate(have);
                return false;
            }
        }
        true
    }

    /// Adds the bytes read since the last fold to the running checksum.
    fn fold_checksum(&mut self) {
        let from = self.cksum_pos.max(self.base);
        if from < self.pos {
            self.cksum = crate::crc64::crc64(
                self.cksum,
                &self.buf[from - self.base..self.pos - self.base],
            );
        }
        self.cksum_pos = self.pos;
    }

    /// The checksum covers the stream from here on (the RDB magic).
    pub fn start_checksum(&mut self) {
        self.cksum = 0;
        self.cksum_pos = self.pos;
    }

    /// rio.c: rioGenericUpdateChecksum, read all at once: the CRC-64 of the bytes
    /// from `start_checksum` to here.
    pub fn checksum(&mut self) -> u64 {
        self.fold_checksum();
        self.cksum
    }

    /// A read past the end: everything is consumed, so a caller can tell a short
    /// read (`at_eof`) from a value that failed validation.
    fn short_read(&mut self) -> LoadError {
        self.pos = self.len;
        self.cksum_pos = self.len;
        if self.file.is_some() {
            self.base = self.len;
            self.buf = std::borrow::Cow::Owned(Vec::new());
        }
        LoadError::Other
    }

    /// Did the stream run out (rioRead's "Unexpected EOF")?
    pub fn at_eof(&self) -> bool {
        self.pos == self.len
    }

    fn remaining(&self) -> usize {
        self.len - self.pos
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
            // The in-memory listpack is what Redis writes, byte for byte.
            ZSet::Listpack(p) => rdb_save_raw_string(out, p, compression),
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
            // The in-memory listpack is what Redis writes, byte for byte.
            Hash::Listpack(p) => rdb_save_raw_string(out, p, compression),
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
        return Err(r.short_read());
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
        return Err(r.short_read());
    }
    Ok(Bytes::copy_from_slice(r.read(len as usize)?))
}

/// rdb.c: rdbLoadLzfStringObject
fn rdb_load_lzf_string_object(r: &mut Rio) -> LoadResult<Bytes> {
    let clen = rdb_load_len(r)?;
    let len = rdb_load_len(r)?;
    if clen > r.remaining() as u64 {
        return Err(r.short_read());
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
/// entry-count or value-length thresholds (t_hash.c: hashTypeConvert). A valid
/// RDB_TYPE_HASH_LISTPACK blob that stays a listpack is kept as it is.
fn hash_from_pairs(
    s: &Server,
    items: Vec<Bytes>,
    check_len: bool,
    blob: Option<&[u8]>,
) -> LoadResult<RObj> {
    if !items.len().is_multiple_of(2) {
        return Err(LoadError::Other);
    }
    if items.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let n = items.len() / 2;
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::with_capacity(n);
    let mut too_long = false;
    for pair in items.chunks(2) {
        if check_len
            && (pair[0].len() > s.config.hash_max_listpack_value
                || pair[1].len() > s.config.hash_max_listpack_value)
        {
            too_long = true;
        }
        if !seen.insert(&pair[0]) {
            return Err(LoadError::Other);
        }
    }
    drop(seen);
    let h = if n > s.config.hash_max_listpack_entries || too_long {
        let mut d: Dict<Bytes, Bytes> = Dict::new();
        d.expand(n);
        let mut it = items.into_iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            let _ = d.add(f, v);
        }
        Hash::HashTable(Box::new(d))
    } else if let Some(blob) = blob {
        Hash::Listpack(blob.to_vec())
    } else {
        let pairs: Vec<(&Bytes, &Bytes)> = items.chunks(2).map(|p| (&p[0], &p[1])).collect();
        Hash::from_pairs(&pairs)
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
        // (A listpack keeps no negative zero: double2ll stores it as 0.)
        ZSet::from_sorted_pairs(&v)
    } else {
        let mut zsl = Zskiplist::new();
        for (e, sc) in pairs {
            zsl.insert(sc, e);
        }
        ZSet::Skiplist {
            dict: Box::new(dict),
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
    Ok(new_obj(
        s,
        Value::Set(Box::new(Set::HashTable(Box::new(d)))),
    ))
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
            hash_from_pairs(s, v, true, None)
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
                    let (items, kept) = if rdbtype == RDB_TYPE_HASH_LISTPACK {
                        (lp_validate_and_decode(&blob), Some(&blob[..]))
                    } else {
                        (ziplist_validate_and_decode(&blob), None)
                    };
                    hash_from_pairs(s, items.ok_or(LoadError::Other)?, false, kept)
                }
            }
        }
        // Zipmaps (pre-2.6), modules and streams: not supported by this port.
        _ => Err(LoadError::Other),
    }
}

// ---------------------------------------------------------------- whole files

/// Bytes gathered before a streaming save hands them to its writer.
const RDB_SAVE_CHUNK: usize = 64 * 1024;

/// rio.c's checksumming writer: what a save writes goes through the CRC64 (when
/// `rdbchecksum` is on) on its way to the real target.
struct RdbWriter<'w, W: std::io::Write> {
    out: &'w mut W,
    buf: Vec<u8>,
    cksum: u64,
    checksum: bool,
}

impl<W: std::io::Write> RdbWriter<'_, W> {
    /// Pass the buffered bytes on once there are enough of them.
    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= RDB_SAVE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.checksum {
            self.cksum = crate::crc64::crc64(self.cksum, &self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// rdb.c: rdbSaveAuxField
fn rdb_save_aux_field(out: &mut Vec<u8>, key: &[u8], val: &[u8]) {
    // Short fields: LZF (over 20 bytes only) never applies to 7.0's own.
    rdb_save_type(out, RDB_OPCODE_AUX);
    rdb_save_raw_string(out, key, false);
    rdb_save_raw_string(out, val, false);
}

/// rdb.c: rdbSaveInfoAuxFields
///
/// A master with no replica has no replication backlog, so 7.0 writes no repl-*
/// fields (rdbPopulateSaveInfo returns NULL), and neither do we.
fn rdb_save_info_aux_fields(out: &mut Vec<u8>, rdbflags: i32) {
    let aof_base = (rdbflags & RDBFLAGS_AOF_PREAMBLE != 0) as i64;
    let ctime = crate::util::mstime() / 1000;
    let used_mem = crate::zmalloc::used_memory() as i64;
    rdb_save_aux_field(out, b"redis-ver", crate::server::REDIS_VERSION.as_bytes());
    rdb_save_aux_field(out, b"redis-bits", b"64");
    rdb_save_aux_field(out, b"ctime", ctime.to_string().as_bytes());
    rdb_save_aux_field(out, b"used-mem", used_mem.to_string().as_bytes());
    rdb_save_aux_field(out, b"aof-base", aof_base.to_string().as_bytes());
}

/// rdb.c: rdbSaveFunctions
fn rdb_save_functions(s: &Server, out: &mut Vec<u8>) {
    for li in s.functions.lib_ctx.libraries.values() {
        rdb_save_type(out, RDB_OPCODE_FUNCTION2);
        rdb_save_raw_string(out, &li.code, s.config.rdbcompression);
    }
}

/// rdb.c: rdbSaveMillisecondTime
fn rdb_save_millisecond_time(out: &mut Vec<u8>, t: i64) {
    out.extend_from_slice(&t.to_le_bytes());
}

/// rdb.c: rdbSaveKeyValuePair: expiry, then LRU idle time or LFU counter (only when
/// the eviction policy uses one), then type, key and value.
pub fn rdb_save_key_value_pair(
    s: &Server,
    out: &mut Vec<u8>,
    key: &[u8],
    val: &RObj,
    expiretime: Option<i64>,
) {
    use crate::evict::{MAXMEMORY_FLAG_LFU, MAXMEMORY_FLAG_LRU};
    if let Some(when) = expiretime {
        rdb_save_type(out, RDB_OPCODE_EXPIRETIME_MS);
        rdb_save_millisecond_time(out, when);
    }
    if s.config.maxmemory_policy & MAXMEMORY_FLAG_LRU != 0 {
        // Seconds are precise enough, and smaller.
        let idle = crate::object::estimate_object_idle_time(s.lru_clock(), val.lru) / 1000;
        rdb_save_type(out, RDB_OPCODE_IDLE);
        rdb_save_len(out, idle);
    }
    if s.config.maxmemory_policy & MAXMEMORY_FLAG_LFU != 0 {
        rdb_save_type(out, RDB_OPCODE_FREQ);
        out.push(crate::evict::lfu_decr_and_return(s, val.lru) as u8);
    }
    rdb_save_object_type(out, val);
    rdb_save_raw_string(out, key, s.config.rdbcompression);
    rdb_save_object(s, out, val);
    let delay = s.config.rdb_key_save_delay;
    if delay > 0 {
        // debug.c: debugDelay, for tests that need a slow save.
        std::thread::sleep(std::time::Duration::from_micros(delay as u64));
    }
}

/// rdb.c: rdbSaveDb (nothing at all for an empty database)
fn rdb_save_db<W: std::io::Write>(
    s: &Server,
    w: &mut RdbWriter<'_, W>,
    dbid: usize,
) -> std::io::Result<()> {
    let db = &s.db[dbid];
    if db.dict.is_empty() {
        return Ok(());
    }
    rdb_save_type(&mut w.buf, RDB_OPCODE_SELECTDB);
    rdb_save_len(&mut w.buf, dbid as u64);
    rdb_save_type(&mut w.buf, RDB_OPCODE_RESIZEDB);
    rdb_save_len(&mut w.buf, db.dict.len() as u64);
    rdb_save_len(&mut w.buf, db.expires.len() as u64);
    for de in db.dict.iter() {
        let expire = if db.expires.is_empty() {
            None
        } else {
            db.expires.get(&de.key).map(|e| e.val)
        };
        rdb_save_key_value_pair(s, &mut w.buf, &de.key, &de.val, expire);
        w.flush_if_full()?;
    }
    Ok(())
}

// ANCHOR: rdb_save_rio
/// rdb.c: rdbSaveRio, into any writer: the magic, the AUX fields, the function
/// libraries, every non-empty database, EOF and the CRC64 of all that came before
/// (eight zero bytes with `rdbchecksum no`). The bytes are streamed in 64 KiB
/// pieces, so a forked child does not hold a second copy of the dataset.
pub fn rdb_save_rio_to<W: std::io::Write>(
    s: &Server,
    out: &mut W,
    rdbflags: i32,
) -> std::io::Result<()> {
    let mut w = RdbWriter {
        out,
        buf: Vec::with_capacity(RDB_SAVE_CHUNK * 2),
        cksum: 0,
        checksum: s.config.rdbchecksum,
    };
    w.buf
        .extend_from_slice(format!("REDIS{:04}", RDB_VERSION).as_bytes());
    rdb_save_info_aux_fields(&mut w.buf, rdbflags);
    rdb_save_functions(s, &mut w.buf);
    for dbid in 0..s.db.len() {
        rdb_save_db(s, &mut w, dbid)?;
    }
    rdb_save_type(&mut w.buf, RDB_OPCODE_EOF);
    w.flush()?;
    let cksum = w.cksum;
    w.out.write_all(&cksum.to_le_bytes())
}
// ANCHOR_END: rdb_save_rio

/// rdb.c: rdbSaveRio, into memory (what the AOF rewrite writes as its base).
pub fn rdb_save_rio(s: &Server, out: &mut Vec<u8>, rdbflags: i32) {
    // Writing to a Vec cannot fail.
    let _ = rdb_save_rio_to(s, out, rdbflags);
}

/// Counters of one load (server.rdb_last_load_keys_loaded / _expired).
#[derive(Default, Debug, Clone, Copy)]
pub struct LoadStats {
    pub keys_loaded: u64,
    pub keys_expired: u64,
}

// ANCHOR: rdb_load_rio
/// rdb.c: rdbLoadRioWithLoadingCtx
///
/// Loads a whole stream starting at `r.pos` (which must point at "REDIS") into the
/// server's databases and function libraries, and leaves `r.pos` just after the
/// checksum. Errors are logged with Redis's phrases; the returned text is the reason
/// rdbReportError would print ("Unexpected EOF reading RDB file", "RDB CRC error").
pub fn rdb_load_rio(s: &mut Server, r: &mut Rio, rdbflags: i32) -> Result<(), String> {
    r.start_checksum();
    let eof = || {
        crate::server::server_log_raw(
            crate::server::LL_WARNING,
            "Short read or OOM loading DB. Unrecoverable error, aborting now.",
        );
        "Unexpected EOF reading RDB file".to_string()
    };
    let Ok(magic) = r.read(9) else {
        return Err(eof());
    };
    if &magic[..5] != b"REDIS" {
        crate::server_log!(
            s,
            crate::server::LL_WARNING,
            "Wrong signature trying to load DB from file"
        );
        return Err("Wrong signature trying to load DB from file".into());
    }
    // atoi: leading digits, anything else stops it.
    let rdbver = magic[5..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, &b| n * 10 + (b - b'0') as i64);
    if rdbver < 1 || rdbver > RDB_VERSION as i64 {
        let msg = format!("Can't handle RDB format version {}", rdbver);
        crate::server_log!(s, crate::server::LL_WARNING, "{}", msg);
        return Err(msg);
    }
    let mut stats = LoadStats::default();
    let mut empty_keys_skipped = 0u64;
    let mut dbid = 0usize;
    let (mut lru_idle, mut lfu_freq, mut expiretime) = (-1i64, -1i64, -1i64);
    let now = crate::util::mstime();
    let lru_clock = s.lru_clock() as i64;
    loop {
        // Between two records: let clients in if another interval's worth was read.
        rdb_load_progress_callback(s, r);
        let Ok(t) = rdb_load_type(r) else {
            return Err(eof());
        };
        match t {
            RDB_OPCODE_EXPIRETIME => {
                let Ok(b) = r.read(4) else { return Err(eof()) };
                expiretime = i32::from_le_bytes(b.try_into().unwrap()) as i64 * 1000;
                continue;
            }
            RDB_OPCODE_EXPIRETIME_MS => {
                let Ok(b) = r.read(8) else { return Err(eof()) };
                expiretime = i64::from_le_bytes(b.try_into().unwrap());
                continue;
            }
            RDB_OPCODE_FREQ => {
                let Ok(b) = r.read(1) else { return Err(eof()) };
                lfu_freq = b[0] as i64;
                continue;
            }
            RDB_OPCODE_IDLE => {
                let Ok(v) = rdb_load_len(r) else {
                    return Err(eof());
                };
                lru_idle = v as i64;
                continue;
            }
            RDB_OPCODE_EOF => break,
            RDB_OPCODE_SELECTDB => {
                let Ok(id) = rdb_load_len(r) else {
                    return Err(eof());
                };
                if id >= s.db.len() as u64 {
                    crate::server_log!(
                        s,
                        crate::server::LL_WARNING,
                        "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting\n",
                        s.db.len()
                    );
                    return Err("Too many databases".into());
                }
                dbid = id as usize;
                continue;
            }
            RDB_OPCODE_RESIZEDB => {
                let (Ok(db_size), Ok(expires_size)) = (rdb_load_len(r), rdb_load_len(r)) else {
                    return Err(eof());
                };
                // A hint only: never presize past what the rest of the stream could hold.
                let cap = r.remaining() as u64;
                s.db[dbid].dict.expand(db_size.min(cap) as usize);
                s.db[dbid].expires.expand(expires_size.min(cap) as usize);
                continue;
            }
            RDB_OPCODE_AUX => {
                let (Ok(k), Ok(v)) = (
                    rdb_generic_load_string_object(r),
                    rdb_generic_load_string_object(r),
                ) else {
                    return Err(eof());
                };
                rdb_load_aux_field(s, &k, &v);
                continue;
            }
            RDB_OPCODE_MODULE_AUX => {
                // No modules here: Redis exits when no module claims the data.
                let id = rdb_load_len(r).unwrap_or(0);
                let name = module_type_name_by_id(id);
                crate::server_log!(
                    s,
                    crate::server::LL_WARNING,
                    "The RDB file contains AUX module data I can't load: no matching module '{}'",
                    name
                );
                return Err(format!("no matching module '{}'", name));
            }
            RDB_OPCODE_FUNCTION | RDB_OPCODE_FUNCTION2 => {
                let lua = s.functions.lua;
                let replace = rdbflags & RDBFLAGS_ALLOW_DUP != 0;
                if let Err(e) = crate::functions::rdb_function_load(
                    lua,
                    r,
                    &mut s.functions.lib_ctx,
                    t,
                    replace,
                ) {
                    crate::server_log!(
                        s,
                        crate::server::LL_WARNING,
                        "Failed loading library, {}",
                        e
                    );
                    return Err(eof());
                }
                continue;
            }
            _ => {}
        }
        // A value: its type byte was `t`.
        if !((0..=7).contains(&t) || (9..=19).contains(&t)) {
            return Err(eof());
        }
        let Ok(key) = rdb_generic_load_string_object(r) else {
            return Err(eof());
        };
        match rdb_load_object(s, t, r) {
            Err(LoadError::EmptyKey) => {
                if empty_keys_skipped < 10 {
                    crate::server_log!(
                        s,
                        crate::server::LL_WARNING,
                        "rdbLoadObject skipping empty key: {}",
                        String::from_utf8_lossy(&key)
                    );
                }
                empty_keys_skipped += 1;
            }
            // rdbLoadObject reports corruption itself (rdbReportCorruptRDB); the
            // caller prints it as "Internal error in RDB reading offset ...".
            Err(LoadError::Other) if r.at_eof() => return Err(eof()),
            Err(LoadError::Other) => return Err("Bad data format".into()),
            // An expired key on a master is dropped, except in an AOF base: the log
            // that follows it assumes the keyspace exactly as it was.
            Ok(_)
                if rdbflags & RDBFLAGS_AOF_PREAMBLE == 0
                    && expiretime != -1
                    && expiretime < now =>
            {
                stats.keys_expired += 1;
            }
            Ok(mut val) => {
                crate::cluster::object_set_lru_or_lfu(s, &mut val, lfu_freq, lru_idle, lru_clock);
                if s.db[dbid].dict.contains_key(&key) {
                    if rdbflags & RDBFLAGS_ALLOW_DUP == 0 {
                        crate::server_log!(
                            s,
                            crate::server::LL_WARNING,
                            "RDB has duplicated key '{}' in DB {}",
                            String::from_utf8_lossy(&key),
                            dbid
                        );
                        return Err("Duplicated key found in RDB file".into());
                    }
                    // DEBUG RELOAD's modes: the loaded key replaces the one there.
                    s.db[dbid].db_delete(&key);
                }
                let db = &mut s.db[dbid];
                let _ = db.dict.add(Box::from(&key[..]), val);
                if expiretime != -1 {
                    db.set_expire(&key, expiretime);
                }
                stats.keys_loaded += 1;
            }
        }
        if s.config.key_load_delay != 0 {
            crate::debug::debug_delay(s.config.key_load_delay);
        }
        expiretime = -1;
        lfu_freq = -1;
        lru_idle = -1;
    }
    // Every byte from the magic to EOF is in the checksum (version 5 and later).
    if rdbver >= 5 {
        let expected = r.checksum();
        let Ok(b) = r.read(8) else {
            return Err(eof());
        };
        let cksum = u64::from_le_bytes(b.try_into().unwrap());
        if s.config.rdbchecksum {
            if cksum == 0 {
                crate::server_log!(
                    s,
                    crate::server::LL_WARNING,
                    "RDB file was saved with checksum disabled: no check performed."
                );
            } else if cksum != expected {
                crate::server_log!(
                    s,
                    crate::server::LL_WARNING,
                    "Wrong RDB checksum expected: ({:x}) but got ({:x}). Aborting now.",
                    expected,
                    cksum
                );
                return Err("RDB CRC error".into());
            }
        }
    }
    s.rdb_last_load_keys_loaded = stats.keys_loaded;
    s.rdb_last_load_keys_expired = stats.keys_expired;
    if empty_keys_skipped > 0 {
        crate::server_log!(
            s,
            crate::server::LL_WARNING,
            "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
            stats.keys_loaded,
            stats.keys_expired,
            empty_keys_skipped
        );
    } else {
        crate::server_log!(
            s,
            crate::server::LL_NOTICE,
            "Done loading RDB, keys loaded: {}, keys expired: {}.",
            stats.keys_loaded,
            stats.keys_expired
        );
    }
    Ok(())
}
// ANCHOR_END: rdb_load_rio

/// rdb.c: the AUX branch of rdbLoadRioWithLoadingCtx: log what is worth logging,
/// ignore the rest (the AUX contract: unknown fields are skipped).
fn rdb_load_aux_field(s: &mut Server, key: &[u8], val: &[u8]) {
    use crate::server::{LL_DEBUG, LL_NOTICE};
    let v = String::from_utf8_lossy(val);
    let num = || crate::util::string2ll(val.trim_ascii()).unwrap_or(0);
    if key.first() == Some(&b'%') {
        crate::server_log!(
            s,
            LL_NOTICE,
            "RDB '{}': {}",
            String::from_utf8_lossy(key),
            v
        );
    } else if key.eq_ignore_ascii_case(b"redis-ver") {
        crate::server_log!(s, LL_NOTICE, "Loading RDB produced by version {}", v);
    } else if key.eq_ignore_ascii_case(b"ctime") {
        let age = (crate::util::mstime() / 1000 - num()).max(0);
        crate::server_log!(s, LL_NOTICE, "RDB age {} seconds", age);
    } else if key.eq_ignore_ascii_case(b"used-mem") {
        crate::server_log!(
            s,
            LL_NOTICE,
            "RDB memory usage when created {:.2} Mb",
            num() as f64 / (1024.0 * 1024.0)
        );
        // INFO's fallback total when the input's size is unknown.
        s.loading_rdb_used_mem = num() as u64;
    } else if key.eq_ignore_ascii_case(b"aof-preamble") {
        if num() != 0 {
            crate::server_log!(s, LL_NOTICE, "RDB has an AOF tail");
        }
    } else if key.eq_ignore_ascii_case(b"aof-base") {
        if num() != 0 {
            crate::server_log!(s, LL_NOTICE, "RDB is base AOF");
        }
    } else if [
        &b"repl-stream-db"[..],
        b"repl-id",
        b"repl-offset",
        b"lua",
        b"redis-bits",
    ]
    .iter()
    .any(|k| key.eq_ignore_ascii_case(k))
    {
        // Replication state (no replication here) and fields Redis ignores too.
    } else {
        crate::server_log!(
            s,
            LL_DEBUG,
            "Unrecognized RDB AUX field: '{}'",
            String::from_utf8_lossy(key)
        );
    }
}

/// module.c: moduleTypeNameByID (the 9-character name packed in a module id)
fn module_type_name_by_id(id: u64) -> String {
    const SYMBOLS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let id = id >> 10;
    (0..9)
        .map(|j| SYMBOLS[((id >> (6 * (8 - j))) & 63) as usize] as char)
        .collect()
}

// ---------------------------------------------------------------- saving to disk

/// The `save` config as (seconds, changes) pairs (server.h: saveparams).
pub fn save_params(save: &str) -> Vec<(i64, u64)> {
    let nums: Vec<i64> = save
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    nums.chunks_exact(2)
        .map(|p| (p[0], p[1].max(0) as u64))
        .collect()
}

/// util.c: fsyncFileDir (make a rename durable)
fn fsync_file_dir(filename: &str) -> std::io::Result<()> {
    let dir = match std::path::Path::new(filename).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// rio.h: REDIS_AUTOSYNC_BYTES
const REDIS_AUTOSYNC_BYTES: usize = 4 * 1024 * 1024;

/// rio.c's file target with rioSetAutoSync: with `rdb-save-incremental-fsync`, the
/// data goes to disk every 4 MB instead of in one burst at the end, which would
/// stall the disk (and whoever else uses it) for a long time on a big save.
struct AutoSyncFile {
    f: std::fs::File,
    autosync: usize,
    since_sync: usize,
}

impl std::io::Write for AutoSyncFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.f.write(buf)?;
        self.since_sync += n;
        if self.autosync > 0 && self.since_sync >= self.autosync {
            self.f.sync_data()?;
            self.since_sync = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

fn cwd_or_unknown() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

// ANCHOR: rdb_save
/// rdb.c: rdbSave
///
/// Writes `temp-<pid>.rdb` in the working directory (`dir`), fsyncs it and renames
/// it over `filename`, so the file on disk is always a whole snapshot.
pub fn rdb_save(s: &mut Server, filename: &str) -> Result<(), String> {
    use crate::server::{strerror, LL_NOTICE, LL_WARNING};
    use std::io::Write;
    let tmpfile = format!("temp-{}.rdb", std::process::id());
    let autosync = if s.config.rdb_save_incremental_fsync {
        REDIS_AUTOSYNC_BYTES
    } else {
        0
    };
    let mut fp = match std::fs::File::create(&tmpfile) {
        Ok(f) => AutoSyncFile {
            f,
            autosync,
            since_sync: 0,
        },
        Err(e) => {
            crate::server_log!(
                s,
                LL_WARNING,
                "Failed opening the temp RDB file {} (in server root dir {}) for saving: {}",
                tmpfile,
                cwd_or_unknown(),
                strerror(&e)
            );
            return Err("open".into());
        }
    };
    let written = rdb_save_rio_to(s, &mut fp, RDBFLAGS_NONE)
        .map_err(|e| ("rdbSaveRio", e))
        .and_then(|()| fp.flush().map_err(|e| ("fflush", e)))
        .and_then(|()| fp.f.sync_all().map_err(|e| ("fsync", e)));
    drop(fp);
    if let Err((op, e)) = written {
        crate::server_log!(
            s,
            LL_WARNING,
            "Write error saving DB on disk({}): {}",
            op,
            strerror(&e)
        );
        let _ = std::fs::remove_file(&tmpfile);
        return Err(op.into());
    }
    if let Err(e) = std::fs::rename(&tmpfile, filename) {
        crate::server_log!(
            s,
            LL_WARNING,
            "Error moving temp DB file {} on the final destination {} (in server root dir {}): {}",
            tmpfile,
            filename,
            cwd_or_unknown(),
            strerror(&e)
        );
        let _ = std::fs::remove_file(&tmpfile);
        return Err("rename".into());
    }
    if let Err(e) = fsync_file_dir(filename) {
        crate::server_log!(
            s,
            LL_WARNING,
            "Write error saving DB on disk(fsyncFileDir): {}",
            strerror(&e)
        );
        return Err("fsyncFileDir".into());
    }
    crate::server_log!(s, LL_NOTICE, "DB saved on disk");
    s.dirty = 0;
    s.lastsave = crate::util::mstime() / 1000;
    s.lastbgsave_status_ok = true;
    Ok(())
}
// ANCHOR_END: rdb_save

// ANCHOR: rdb_save_background
/// rdb.c: rdbSaveBackground
///
/// Forks; the child writes the snapshot with `rdb_save` and exits 0 or 1, the parent
/// returns at once and learns the outcome in `check_children_done`.
pub fn rdb_save_background(s: &mut Server, filename: &str) -> Result<(), String> {
    use crate::server::{ChildType, LL_NOTICE, LL_WARNING};
    if crate::server::has_active_child_process(s) {
        return Err("a child is active".into());
    }
    s.stat_rdb_saves += 1;
    s.dirty_before_bgsave = s.dirty;
    s.lastbgsave_try = crate::util::mstime() / 1000;
    match crate::server::redis_fork(s, ChildType::Rdb) {
        Ok(0) => {
            let retval = rdb_save(s, filename);
            if retval.is_ok() {
                crate::childinfo::send_child_cow_info(
                    s,
                    crate::childinfo::ChildInfoType::RdbCowSize,
                    "RDB",
                );
            }
            crate::server::exit_from_child(if retval.is_ok() { 0 } else { 1 });
        }
        Ok(childpid) => {
            crate::server_log!(
                s,
                LL_NOTICE,
                "Background saving started by pid {}",
                childpid
            );
            s.rdb_save_time_start = crate::util::mstime() / 1000;
            Ok(())
        }
        Err(e) => {
            s.lastbgsave_status_ok = false;
            crate::server_log!(s, LL_WARNING, "Can't save in background: fork: {}", e);
            Err(e)
        }
    }
}
// ANCHOR_END: rdb_save_background

/// rdb.c: rdbRemoveTempFile (the file a killed child left behind)
pub fn rdb_remove_temp_file(childpid: libc::pid_t) {
    let _ = std::fs::remove_file(format!("temp-{}.rdb", childpid));
}

// ANCHOR: background_save_done_handler
/// rdb.c: backgroundSaveDoneHandler (backgroundSaveDoneHandlerDisk: no diskless
/// replication here)
pub fn background_save_done_handler(s: &mut Server, exitcode: i32, bysignal: i32) {
    use crate::server::{LL_NOTICE, LL_WARNING};
    if bysignal == 0 && exitcode == 0 {
        crate::server_log!(s, LL_NOTICE, "Background saving terminated with success");
        // Changes made while the child wrote are still unsaved.
        s.dirty = s.dirty.saturating_sub(s.dirty_before_bgsave);
        s.lastsave = crate::util::mstime() / 1000;
        s.lastbgsave_status_ok = true;
    } else if bysignal == 0 {
        crate::server_log!(s, LL_WARNING, "Background saving error");
        s.lastbgsave_status_ok = false;
    } else {
        crate::server_log!(
            s,
            LL_WARNING,
            "Background saving terminated by signal {}",
            bysignal
        );
        rdb_remove_temp_file(s.child_pid);
        // SIGUSR1 is how we stop a child on purpose: not an error.
        if bysignal != libc::SIGUSR1 {
            s.lastbgsave_status_ok = false;
        }
    }
    let now = crate::util::mstime() / 1000;
    s.rdb_save_time_last = now - s.rdb_save_time_start;
    s.rdb_save_time_start = -1;
}
// ANCHOR_END: background_save_done_handler

/// rdb.c: killRDBChild (SIGUSR1; check_children_done reaps it and cleans up)
pub fn kill_rdb_child(s: &mut Server) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(s.child_pid, libc::SIGUSR1) };
}

/// rdb.c: saveCommand
pub fn save_command(s: &mut Server, c: &mut crate::networking::Client) {
    if s.child_type == crate::server::ChildType::Rdb {
        crate::resp::add_reply_error(s, c, "Background save already in progress");
        return;
    }
    s.stat_rdb_saves += 1;
    let filename = s.config.dbfilename.clone();
    if rdb_save(s, &filename).is_ok() {
        c.add_reply(crate::resp::shared::OK);
    } else {
        crate::resp::add_reply_error(s, c, "-ERR");
    }
}

/// rdb.c: bgsaveCommand (BGSAVE [SCHEDULE])
pub fn bgsave_command(s: &mut Server, c: &mut crate::networking::Client) {
    let mut schedule = false;
    if c.argv.len() > 1 {
        if c.argv.len() == 2 && c.argv[1].eq_ignore_ascii_case(b"schedule") {
            schedule = true;
        } else {
            crate::resp::add_reply_error(s, c, crate::resp::shared::SYNTAXERR);
            return;
        }
    }
    if s.child_type == crate::server::ChildType::Rdb {
        crate::resp::add_reply_error(s, c, "Background save already in progress");
    } else if crate::server::has_active_child_process(s) || s.in_exec {
        // No fork inside a transaction: the snapshot waits for the cron.
        if schedule || s.in_exec {
            s.rdb_bgsave_scheduled = true;
            c.add_reply_status("Background saving scheduled");
        } else {
            crate::resp::add_reply_error(
                s,
                c,
                "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            );
        }
    } else {
        let filename = s.config.dbfilename.clone();
        if rdb_save_background(s, &filename).is_ok() {
            c.add_reply_status("Background saving started");
        } else {
            crate::resp::add_reply_error(s, c, "-ERR");
        }
    }
}

// ---------------------------------------------------------------- loading from disk

// ANCHOR: start_loading
/// rdb.c: startLoading
///
/// Marks the server as loading (processCommand answers -LOADING to every command
/// without the `loading` flag from now on) and resets the progress INFO shows.
pub fn start_loading(s: &mut Server, size: u64, _rdbflags: i32) {
    s.loading = true;
    s.loading_start_time = crate::util::mstime() / 1000;
    s.loading_loaded_bytes = 0;
    s.loading_total_bytes = size;
    s.loading_rdb_used_mem = 0;
    s.rdb_last_load_keys_expired = 0;
    s.rdb_last_load_keys_loaded = 0;
}

/// rdb.c: loadingAbsProgress
pub fn loading_abs_progress(s: &mut Server, pos: u64) {
    s.loading_loaded_bytes = pos;
    // Reading it refreshes the peak INFO reports.
    crate::zmalloc::used_memory();
}

/// rdb.c: loadingIncrProgress
pub fn loading_incr_progress(s: &mut Server, size: u64) {
    s.loading_loaded_bytes += size;
    crate::zmalloc::used_memory();
}

/// rdb.c: stopLoading
pub fn stop_loading(s: &mut Server, _success: bool) {
    s.loading = false;
}

/// rdb.c: rdbLoadProgressCallback
///
/// Every `loading-process-events-interval-bytes` of input the event loop turns a few
/// times, so clients connect and get their -LOADING (or INFO) instead of waiting in
/// the listen backlog. Redis hooks this into every rio read; here it runs between two
/// records of the stream, so one huge value is read in one go.
pub fn rdb_load_progress_callback(s: &mut Server, r: &mut Rio) {
    let interval = s.config.loading_process_events_interval_bytes.max(0) as usize;
    if interval != 0 && s.loading && r.pos / interval > r.progress_pos / interval {
        loading_abs_progress(s, r.pos as u64);
        crate::networking::process_events_while_blocked(s);
    }
    r.progress_pos = r.pos;
}
// ANCHOR_END: start_loading

/// Why `rdb_load` failed: the file could not be read (NotFound is a fresh start),
/// it is not an RDB file Redis 7.0 reads (errno EINVAL in Redis), or it is corrupt.
#[derive(Debug)]
pub enum RdbLoadFileError {
    Io(std::io::Error),
    Invalid,
    Corrupt(String),
    /// Already logged; Redis exits right there (too many databases, module data).
    Fatal,
}

// ANCHOR: rdb_load
/// rdb.c: rdbLoad
///
/// Loads the file between start_loading and stop_loading, streaming it through a
/// file-backed Rio.
pub fn rdb_load(s: &mut Server, filename: &str, rdbflags: i32) -> Result<(), RdbLoadFileError> {
    let file = std::fs::File::open(filename).map_err(RdbLoadFileError::Io)?;
    // As Redis: a failed fstat counts as an empty file (the load then fails).
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    start_loading(s, size, rdbflags);
    let mut r = Rio::with_file(file, size as usize);
    let res = rdb_load_rio(s, &mut r, rdbflags);
    stop_loading(s, res.is_ok());
    res.map_err(|e| {
        if e.starts_with("Wrong signature") || e.starts_with("Can't handle RDB format") {
            RdbLoadFileError::Invalid
        } else if e == "Too many databases" || e.starts_with("no matching module") {
            RdbLoadFileError::Fatal
        } else {
            // Redis prints the bytes its progress callback counted; we know the offset.
            RdbLoadFileError::Corrupt(format!(
                "Internal error in RDB reading offset {}, function at rdb.c:0 -> {}",
                r.pos, e
            ))
        }
    })
}
// ANCHOR_END: rdb_load

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
            Value::Hash(Box::new(Hash::from_pairs(&pairs[..5]))),
        ));
        let mut big = Hash::from_pairs(&pairs);
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
        let hs = Set::HashTable(Box::new(d));
        out.push(new_obj(s, Value::Set(Box::new(hs))));
        let pairs: Vec<(Bytes, f64)> = (0..200)
            .map(|i| (b(&format!("m{i:03}")), i as f64 * 1.5 - 30.0))
            .collect();
        out.push(new_obj(
            s,
            Value::ZSet(Box::new(ZSet::from_sorted_pairs(&pairs[..20]))),
        ));
        let mut z = ZSet::from_sorted_pairs(&pairs);
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

    /// A server with every sample value in db 0 and db 3, some with a TTL.
    fn populated() -> Server {
        let mut s = server();
        let now = crate::util::mstime();
        for (i, o) in samples(&s).into_iter().enumerate() {
            for dbid in [0usize, 3] {
                let key = b(&format!("k{i}"));
                let _ = s.db[dbid].dict.add(Box::from(&key[..]), o.clone());
                if i % 3 == 0 {
                    s.db[dbid].set_expire(&key, now + 100_000 + i as i64);
                }
            }
        }
        s
    }

    #[test]
    fn whole_stream_round_trip_and_position() {
        let s = populated();
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_NONE);
        assert!(out.starts_with(b"REDIS0010\xfa\x09redis-ver"));
        // The trailer is the CRC64 of everything before it.
        let n = out.len();
        let crc = u64::from_le_bytes(out[n - 8..].try_into().unwrap());
        assert_eq!(crc, crate::crc64::crc64(0, &out[..n - 8]));
        assert_eq!(out[n - 9], RDB_OPCODE_EOF);
        // What follows the stream (an AOF tail) is left for the caller.
        let mut stream = b"junk".to_vec();
        stream.extend_from_slice(&out);
        stream.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut t = server();
        let mut r = Rio::new(&stream);
        r.pos = 4;
        rdb_load_rio(&mut t, &mut r, RDBFLAGS_NONE).unwrap();
        assert_eq!(r.pos, 4 + out.len());
        for dbid in 0..s.db.len() {
            assert_eq!(s.db[dbid].dict.len(), t.db[dbid].dict.len(), "db {dbid}");
            assert_eq!(s.db[dbid].expires.len(), t.db[dbid].expires.len());
            for de in s.db[dbid].dict.iter() {
                let back = t.db[dbid].dict.get(&de.key).expect("key loaded");
                assert_eq!(back.val.ptr, de.val.ptr);
                assert_eq!(
                    s.db[dbid].expires.get(&de.key).map(|e| e.val),
                    t.db[dbid].expires.get(&de.key).map(|e| e.val)
                );
            }
        }
        // Saving what was loaded gives a keys section of the same size: the same
        // bytes, though hash tables may list them in another order.
        let mut again = Vec::new();
        rdb_save_rio(&t, &mut again, RDBFLAGS_NONE);
        let keys = |v: &[u8]| v.len() - v.iter().position(|&b| b == RDB_OPCODE_SELECTDB).unwrap();
        assert!(keys(&out) == keys(&again), "keys sections differ in size");
    }

    /// A file-backed Rio refills its window across values larger than a refill and
    /// across many small ones, and checks the same CRC as the in-memory one.
    #[test]
    fn file_stream_round_trip_checksum_and_truncation() {
        let mut s = populated();
        // Incompressible bytes, so LZF does not shrink the value below a refill.
        let mut seed: u32 = 12345;
        let noise: Vec<u8> = (0..3 * RIO_FILE_CHUNK + 17)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        let big = crate::object::try_object_encoding(&s, Bytes::from(noise));
        let _ = s.db[1].dict.add(Box::from(&b"big"[..]), big);
        for i in 0..5000 {
            let v = crate::object::try_object_encoding(&s, b(&format!("value-{i}")));
            let _ = s.db[2]
                .dict
                .add(format!("key-{i}").into_bytes().into_boxed_slice(), v);
        }
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_NONE);
        assert!(out.len() > 4 * RIO_FILE_CHUNK);
        let path = std::env::temp_dir().join(format!("ferredis-rio-{}.rdb", std::process::id()));
        let load_file = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            let f = std::fs::File::open(&path).unwrap();
            let mut t = server();
            let mut r = Rio::with_file(f, bytes.len());
            let res = rdb_load_rio(&mut t, &mut r, RDBFLAGS_NONE);
            (t, res, r.pos)
        };
        let (t, res, pos) = load_file(&out);
        res.unwrap();
        assert_eq!(pos, out.len());
        for dbid in 0..s.db.len() {
            assert_eq!(s.db[dbid].dict.len(), t.db[dbid].dict.len(), "db {dbid}");
        }
        let back = t.db[1].dict.get(b"big".as_slice()).expect("big loaded");
        assert_eq!(
            back.val.ptr,
            s.db[1].dict.get(b"big".as_slice()).unwrap().val.ptr
        );
        let mut bad = out.clone();
        bad[out.len() / 2] ^= 0x20;
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(load_file(&bad).1.is_err());
        for cut in [10, RIO_FILE_CHUNK - 1, RIO_FILE_CHUNK + 3, out.len() - 1] {
            assert!(load_file(&out[..cut]).1.is_err(), "cut at {cut}");
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn aof_base_flag_and_checksum_off() {
        let mut s = populated();
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_AOF_PREAMBLE);
        let aux = b"\xfa\x08aof-base\xc0\x01";
        assert!(out.windows(aux.len()).any(|w| w == aux));
        s.config.rdbchecksum = false;
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_NONE);
        assert_eq!(&out[out.len() - 8..], &[0u8; 8]);
        // A zero checksum is "not computed": it loads.
        let mut t = server();
        rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_NONE).unwrap();
    }

    #[test]
    fn expired_keys_skipped_unless_aof_preamble() {
        let mut s = server();
        let v = crate::object::try_object_encoding(&s, b("v"));
        let _ = s.db[0].dict.add(Box::from(&b"gone"[..]), v.clone());
        s.db[0].set_expire(b"gone", 1000);
        let _ = s.db[0].dict.add(Box::from(&b"kept"[..]), v);
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_NONE);
        let mut t = server();
        rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_NONE).unwrap();
        assert_eq!(t.db[0].dict.len(), 1);
        assert_eq!(t.rdb_last_load_keys_expired, 1);
        let mut t = server();
        rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_AOF_PREAMBLE).unwrap();
        assert_eq!(t.db[0].dict.len(), 2);
    }

    #[test]
    fn bad_streams_fail_cleanly() {
        let s = populated();
        let mut out = Vec::new();
        rdb_save_rio(&s, &mut out, RDBFLAGS_NONE);
        // Every truncation fails; none panics.
        for cut in (0..out.len()).step_by(7) {
            let mut t = server();
            assert!(rdb_load_rio(&mut t, &mut Rio::new(&out[..cut]), RDBFLAGS_NONE).is_err());
        }
        let mut bad = out.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let mut t = server();
        assert_eq!(
            rdb_load_rio(&mut t, &mut Rio::new(&bad), RDBFLAGS_NONE).unwrap_err(),
            "RDB CRC error"
        );
        let mut t = server();
        assert!(
            rdb_load_rio(&mut t, &mut Rio::new(b"REDIS0011\xff"), RDBFLAGS_NONE)
                .unwrap_err()
                .contains("version 11")
        );
        // Loading the same stream twice: duplicated keys, unless ALLOW_DUP.
        let mut t = server();
        rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_NONE).unwrap();
        assert!(rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_NONE).is_err());
        rdb_load_rio(&mut t, &mut Rio::new(&out), RDBFLAGS_ALLOW_DUP).unwrap();
    }

    #[test]
    fn save_params_parse() {
        assert_eq!(save_params("3600 1 300 100"), vec![(3600, 1), (300, 100)]);
        assert!(save_params("").is_empty());
    }
}
