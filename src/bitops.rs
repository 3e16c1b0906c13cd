//! Port of bitops.c: strings as bit arrays (SETBIT GETBIT BITCOUNT BITPOS BITOP
//! BITFIELD BITFIELD_RO). Bit 0 is the most significant bit of the first byte.

use crate::db;
use crate::networking::Client;
use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC, NOTIFY_STRING};
use crate::object::{
    create_raw_string_object, create_string_object, get_long_long_from_object_or_reply, RObj,
};
use crate::resp::{add_reply_error, shared};
use crate::server::Server;
use crate::util::string2ll;

/// bitops.c: redisPopcount
pub fn redis_popcount(s: &[u8]) -> i64 {
    // Eight bytes at a time, then the tail; count_ones compiles to popcnt.
    let mut chunks = s.chunks_exact(8);
    let mut bits: i64 = 0;
    for ch in &mut chunks {
        bits += u64::from_ne_bytes(ch.try_into().unwrap()).count_ones() as i64;
    }
    for b in chunks.remainder() {
        bits += b.count_ones() as i64;
    }
    bits
}

/// bitops.c: redisBitpos
///
/// Position of the first bit set to `bit`. Looking for a 0 in all-ones bytes
/// returns count*8 (the first bit after the string, which is 0 when padded);
/// looking for a 1 in all-zero bytes returns -1.
pub fn redis_bitpos(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    for (i, &b) in s.iter().enumerate() {
        if b != skip {
            let lead = if bit {
                b.leading_zeros()
            } else {
                (!b).leading_zeros()
            };
            return i as i64 * 8 + lead as i64;
        }
    }
    if bit {
        -1
    } else {
        s.len() as i64 * 8
    }
}

/// bitops.c: getBitOffsetFromArgument (`#N` means N*bits for BITFIELD)
fn get_bit_offset_from_argument(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    hash: bool,
    bits: u32,
) -> Option<u64> {
    let err = "bit offset is not an integer or out of range";
    let p = c.argv[idx].clone();
    let usehash = hash && bits > 0 && p.first() == Some(&b'#');
    let Some(mut loffset) = string2ll(&p[usehash as usize..]) else {
        add_reply_error(s, c, err);
        return None;
    };
    if usehash {
        loffset = loffset.wrapping_mul(bits as i64);
    }
    if loffset < 0 || (loffset >> 3) >= s.config.proto_max_bulk_len {
        add_reply_error(s, c, err);
        return None;
    }
    Some(loffset as u64)
}

/// bitops.c: getBitfieldTypeFromArgument (`i1`..`i64`, `u1`..`u63`)
fn get_bitfield_type_from_argument(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
) -> Option<(bool, u32)> {
    let err = "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let p = c.argv[idx].clone();
    let sign = match p.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => {
            add_reply_error(s, c, err);
            return None;
        }
    };
    // strlen: the type stops at a NUL byte.
    let rest = &p[1..];
    let rest = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
    match string2ll(rest) {
        Some(b) if b >= 1 && ((sign && b <= 64) || (!sign && b <= 63)) => Some((sign, b as u32)),
        _ => {
            add_reply_error(s, c, err);
            None
        }
    }
}

/// bitops.c: lookupStringForBitCommand
///
/// The string at argv[1], created or zero-padded so bit `maxbit` exists. Returns
/// whether it was created or grew (a change even if no bit flips).
fn lookup_string_for_bit_command(s: &mut Server, c: &mut Client, maxbit: u64) -> Option<bool> {
    let byte = (maxbit >> 3) as usize;
    let key = c.argv[1].clone();
    match db::lookup_key_write(s, c.db, &key) {
        Some(o) if !o.is_string() => {
            add_reply_error(s, c, shared::WRONGTYPEERR);
            None
        }
        Some(o) => {
            let buf = o.unshare_string_value();
            let oldlen = buf.len();
            if buf.len() < byte + 1 {
                buf.resize(byte + 1, 0);
            }
            Some(oldlen != buf.len())
        }
        None => {
            let o = create_raw_string_object(s, vec![0u8; byte + 1]);
            db::db_add(s, c.db, create_string_object(&key), o);
            Some(true)
        }
    }
}

fn string_buf<'a>(s: &'a mut Server, c: &Client) -> &'a mut Vec<u8> {
    let key = c.argv[1].clone();
    db::lookup_key_write_with_flags(s, c.db, &key, db::LOOKUP_NOTOUCH)
        .expect("bit command target exists")
        .unshare_string_value()
}

// ANCHOR: setbit_command
/// bitops.c: setbitCommand
pub fn setbit_command(s: &mut Server, c: &mut Client) {
    let err = "bit is not an integer or out of range";
    let Some(bitoffset) = get_bit_offset_from_argument(s, c, 2, false, 0) else {
        return;
    };
    let on = match string2ll(&c.argv[3]) {
        Some(v) if v & !1 == 0 => v,
        _ => {
            add_reply_error(s, c, err);
            return;
        }
    };
    let Some(dirty) = lookup_string_for_bit_command(s, c, bitoffset) else {
        return;
    };
    let byte = (bitoffset >> 3) as usize;
    let bit = 7 - (bitoffset & 7);
    let buf = string_buf(s, c);
    let byteval = buf[byte];
    let bitval = (byteval >> bit) & 1;
    if dirty || bitval as i64 != on {
        buf[byte] = (byteval & !(1 << bit)) | ((on as u8 & 1) << bit);
        let key = c.argv[1].clone();
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_STRING, "setbit", &key, c.db);
        s.dirty += 1;
    }
    c.add_reply(if bitval != 0 {
        shared::CONE
    } else {
        shared::CZERO
    });
}
// ANCHOR_END: setbit_command

/// The value of a string as bytes, for the read-only bit commands
/// (bitops.c: getObjectReadOnlyString).
fn read_only_string(o: &RObj) -> Vec<u8> {
    o.str_bytes().as_bytes().to_vec()
}

/// bitops.c: getbitCommand
pub fn getbit_command(s: &mut Server, c: &mut Client) {
    let Some(bitoffset) = get_bit_offset_from_argument(s, c, 2, false, 0) else {
        return;
    };
    let key = c.argv[1].clone();
    let p = match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply(shared::CZERO);
            return;
        }
        Some(o) if !o.is_string() => {
            add_reply_error(s, c, shared::WRONGTYPEERR);
            return;
        }
        Some(o) => read_only_string(o),
    };
    let byte = (bitoffset >> 3) as usize;
    let bit = 7 - (bitoffset & 7);
    let bitval = p.get(byte).map_or(0, |b| (b >> bit) & 1);
    c.add_reply(if bitval != 0 {
        shared::CONE
    } else {
        shared::CZERO
    });
}

const BITOP_AND: u8 = 0;
const BITOP_OR: u8 = 1;
const BITOP_XOR: u8 = 2;
const BITOP_NOT: u8 = 3;

/// bitops.c: bitopCommand
///
/// Shorter inputs are zero-padded to the longest; an empty result deletes the
/// destination.
pub fn bitop_command(s: &mut Server, c: &mut Client) {
    let opname = c.argv[1].clone();
    let op = if opname.eq_ignore_ascii_case(b"and") {
        BITOP_AND
    } else if opname.eq_ignore_ascii_case(b"or") {
        BITOP_OR
    } else if opname.eq_ignore_ascii_case(b"xor") {
        BITOP_XOR
    } else if opname.eq_ignore_ascii_case(b"not") {
        BITOP_NOT
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    };
    if op == BITOP_NOT && c.argv.len() != 4 {
        add_reply_error(s, c, "BITOP NOT must be called with a single source key.");
        return;
    }
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(c.argv.len() - 3);
    for j in 3..c.argv.len() {
        let key = c.argv[j].clone();
        match db::lookup_key_read(s, c.db, &key) {
            None => srcs.push(Vec::new()),
            Some(o) if !o.is_string() => {
                add_reply_error(s, c, shared::WRONGTYPEERR);
                return;
            }
            Some(o) => srcs.push(read_only_string(o)),
        }
    }
    let maxlen = srcs.iter().map(|v| v.len()).max().unwrap_or(0);
    let target = create_string_object(&c.argv[2]);
    if maxlen > 0 {
        let mut res = vec![0u8; maxlen];
        for (j, out) in res.iter_mut().enumerate() {
            let at = |v: &Vec<u8>| v.get(j).copied().unwrap_or(0);
            let mut output = at(&srcs[0]);
            if op == BITOP_NOT {
                output = !output;
            }
            for src in &srcs[1..] {
                let byte = at(src);
                match op {
                    BITOP_AND => output &= byte,
                    BITOP_OR => output |= byte,
                    _ => output ^= byte,
                }
            }
            *out = output;
        }
        let o = create_raw_string_object(s, res);
        db::set_key(s, c.db, &target, o, 0);
        notify_keyspace_event(s, NOTIFY_STRING, "set", &target, c.db);
        s.dirty += 1;
    } else if db::db_delete(s, c.db, &target) {
        db::signal_modified_key(s, c.db, &target);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &target, c.db);
        s.dirty += 1;
    }
    c.add_reply_long_long(maxlen as i64);
}

/// The BYTE/BIT range arithmetic BITCOUNT and BITPOS share: normalises start and
/// end and, in BIT mode, returns the masks of the bits to ignore in the first and
/// last bytes.
fn normalize_range(start: &mut i64, end: &mut i64, strlen: i64, isbit: bool) -> (u8, u8) {
    let totlen = if isbit { strlen << 3 } else { strlen };
    if *start < 0 {
        *start += totlen;
    }
    if *end < 0 {
        *end += totlen;
    }
    *start = (*start).max(0);
    *end = (*end).max(0);
    if *end >= totlen {
        *end = totlen - 1;
    }
    if isbit && *start <= *end {
        let first = !((1u32 << (8 - (*start & 7))) - 1) as u8;
        let last = ((1u32 << (7 - (*end & 7))) - 1) as u8;
        *start >>= 3;
        *end >>= 3;
        (first, last)
    } else {
        (0, 0)
    }
}

fn parse_bit_byte(s: &mut Server, c: &mut Client, idx: usize) -> Option<bool> {
    if c.argv[idx].eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if c.argv[idx].eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        None
    }
}

/// bitops.c: bitcountCommand
pub fn bitcount_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let p = match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply(shared::CZERO);
            return;
        }
        Some(o) if !o.is_string() => {
            add_reply_error(s, c, shared::WRONGTYPEERR);
            return;
        }
        Some(o) => read_only_string(o),
    };
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if c.argv.len() == 4 || c.argv.len() == 5 {
        let Some(a) = get_long_long_from_object_or_reply(s, c, 2) else {
            return;
        };
        let Some(b) = get_long_long_from_object_or_reply(s, c, 3) else {
            return;
        };
        start = a;
        end = b;
        if start < 0 && end < 0 && start > end {
            c.add_reply(shared::CZERO);
            return;
        }
        let mut isbit = false;
        if c.argv.len() == 5 {
            let Some(b) = parse_bit_byte(s, c, 4) else {
                return;
            };
            isbit = b;
        }
        (first_mask, last_mask) = normalize_range(&mut start, &mut end, strlen, isbit);
    } else if c.argv.len() == 2 {
        start = 0;
        end = strlen - 1;
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    if start > end {
        c.add_reply(shared::CZERO);
        return;
    }
    let (st, en) = (start as usize, end as usize);
    let mut count = redis_popcount(&p[st..=en]);
    if first_mask != 0 || last_mask != 0 {
        let firstlast = [
            if first_mask != 0 {
                p[st] & first_mask
            } else {
                0
            },
            if last_mask != 0 { p[en] & last_mask } else { 0 },
        ];
        count -= redis_popcount(&firstlast);
    }
    c.add_reply_long_long(count);
}

/// bitops.c: bitposCommand
pub fn bitpos_command(s: &mut Server, c: &mut Client) {
    let Some(bit) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if bit != 0 && bit != 1 {
        add_reply_error(s, c, "The bit argument must be 1 or 0.");
        return;
    }
    let bit = bit == 1;
    let key = c.argv[1].clone();
    let p = match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply_long_long(if bit { -1 } else { 0 });
            return;
        }
        Some(o) if !o.is_string() => {
            add_reply_error(s, c, shared::WRONGTYPEERR);
            return;
        }
        Some(o) => read_only_string(o),
    };
    let strlen = p.len() as i64;
    let (mut start, mut end);
    let mut end_given = false;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let argc = c.argv.len();
    if (4..=6).contains(&argc) {
        let Some(a) = get_long_long_from_object_or_reply(s, c, 3) else {
            return;
        };
        start = a;
        let mut isbit = false;
        if argc == 6 {
            let Some(b) = parse_bit_byte(s, c, 5) else {
                return;
            };
            isbit = b;
        }
        if argc >= 5 {
            let Some(b) = get_long_long_from_object_or_reply(s, c, 4) else {
                return;
            };
            end = b;
            end_given = true;
        } else if isbit {
            end = (strlen << 3) + 7;
        } else {
            end = strlen - 1;
        }
        (first_mask, last_mask) = normalize_range(&mut start, &mut end, strlen, isbit);
    } else if argc == 3 {
        start = 0;
        end = strlen - 1;
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    if start > end {
        c.add_reply_long_long(-1);
        return;
    }
    let mut bytes = end - start + 1;
    let mut pos;
    'result: {
        if first_mask != 0 {
            let mut tmp = if bit {
                p[start as usize] & !first_mask
            } else {
                p[start as usize] | first_mask
            };
            if last_mask != 0 && bytes == 1 {
                tmp = if bit {
                    tmp & !last_mask
                } else {
                    tmp | last_mask
                };
            }
            pos = redis_bitpos(&[tmp], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'result;
            }
            start += 1;
            bytes -= 1;
        }
        let curbytes = bytes - if last_mask != 0 { 1 } else { 0 };
        if curbytes > 0 {
            pos = redis_bitpos(&p[start as usize..(start + curbytes) as usize], bit);
            if bytes == curbytes || (pos != -1 && pos != curbytes << 3) {
                break 'result;
            }
            start += curbytes;
            bytes -= curbytes;
        }
        let tmp = if bit {
            p[end as usize] & !last_mask
        } else {
            p[end as usize] | last_mask
        };
        pos = redis_bitpos(&[tmp], bit);
    }
    // A 0 found only past the end of a range the user gave is not in the range.
    if end_given && !bit && pos == bytes << 3 {
        c.add_reply_long_long(-1);
        return;
    }
    if pos != -1 {
        pos += start << 3;
    }
    c.add_reply_long_long(pos);
}

/// bitops.c: getUnsignedBitfield
fn get_unsigned_bitfield(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for _ in 0..bits {
        let byte = (offset >> 3) as usize;
        let bit = 7 - (offset & 7);
        value = (value << 1) | ((p[byte] >> bit) & 1) as u64;
        offset += 1;
    }
    value
}

/// bitops.c: getSignedBitfield
fn get_signed_bitfield(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut value = get_unsigned_bitfield(p, offset, bits);
    if bits < 64 && value & (1u64 << (bits - 1)) != 0 {
        value |= u64::MAX << bits;
    }
    value as i64
}

/// bitops.c: setUnsignedBitfield
fn set_unsigned_bitfield(p: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bitval = ((value >> (bits - 1 - j)) & 1) as u8;
        let byte = (offset >> 3) as usize;
        let bit = 7 - (offset & 7);
        p[byte] = (p[byte] & !(1 << bit)) | (bitval << bit);
        offset += 1;
    }
}

const BFOVERFLOW_WRAP: u8 = 0;
const BFOVERFLOW_SAT: u8 = 1;
const BFOVERFLOW_FAIL: u8 = 2;

/// bitops.c: checkUnsignedBitfieldOverflow. Returns (overflow direction, value to
/// store on overflow for WRAP/SAT).
fn check_unsigned_bitfield_overflow(value: u64, incr: i64, bits: u32, owtype: u8) -> (i32, u64) {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = u64::MAX.checked_shl(bits).unwrap_or(0);
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match owtype {
            BFOVERFLOW_WRAP => wrap(),
            BFOVERFLOW_SAT => max,
            _ => 0,
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        let limit = match owtype {
            BFOVERFLOW_WRAP => wrap(),
            BFOVERFLOW_SAT => 0,
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// bitops.c: checkSignedBitfieldOverflow
fn check_signed_bitfield_overflow(value: i64, incr: i64, bits: u32, owtype: u8) -> (i32, i64) {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let limit = match owtype {
            BFOVERFLOW_WRAP => wrap(),
            BFOVERFLOW_SAT => max,
            _ => 0,
        };
        (1, limit)
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        let limit = match owtype {
            BFOVERFLOW_WRAP => wrap(),
            BFOVERFLOW_SAT => min,
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum BitfieldOpcode {
    Get,
    Set,
    Incrby,
}

struct BitfieldOp {
    offset: u64,
    i64: i64,
    opcode: BitfieldOpcode,
    owtype: u8,
    bits: u32,
    sign: bool,
}

// ANCHOR: bitfield_generic
/// bitops.c: bitfieldGeneric
///
/// Parses every operation first (so a bad one fails the whole command), grows the
/// string once to the highest bit any write needs, then runs them in order. The
/// OVERFLOW mode applies to the operations after it.
fn bitfield_generic(s: &mut Server, c: &mut Client, readonly_cmd: bool) {
    let mut ops: Vec<BitfieldOp> = Vec::new();
    let mut owtype = BFOVERFLOW_WRAP;
    let mut readonly = true;
    let mut highest_write_offset: u64 = 0;
    let mut j = 2;
    while j < c.argv.len() {
        let remargs = c.argv.len() - j - 1;
        let sub = c.argv[j].clone();
        let opcode = if sub.eq_ignore_ascii_case(b"get") && remargs >= 2 {
            BitfieldOpcode::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remargs >= 3 {
            BitfieldOpcode::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remargs >= 3 {
            BitfieldOpcode::Incrby
        } else if sub.eq_ignore_ascii_case(b"overflow") && remargs >= 1 {
            let name = c.argv[j + 1].clone();
            j += 2;
            owtype = if name.eq_ignore_ascii_case(b"wrap") {
                BFOVERFLOW_WRAP
            } else if name.eq_ignore_ascii_case(b"sat") {
                BFOVERFLOW_SAT
            } else if name.eq_ignore_ascii_case(b"fail") {
                BFOVERFLOW_FAIL
            } else {
                add_reply_error(s, c, "Invalid OVERFLOW type specified");
                return;
            };
            continue;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        };
        let Some((sign, bits)) = get_bitfield_type_from_argument(s, c, j + 1) else {
            return;
        };
        let Some(offset) = get_bit_offset_from_argument(s, c, j + 2, true, bits) else {
            return;
        };
        let mut i64v = 0;
        if opcode != BitfieldOpcode::Get {
            readonly = false;
            highest_write_offset = highest_write_offset.max(offset + bits as u64 - 1);
            let Some(v) = get_long_long_from_object_or_reply(s, c, j + 3) else {
                return;
            };
            i64v = v;
        }
        ops.push(BitfieldOp {
            offset,
            i64: i64v,
            opcode,
            owtype,
            bits,
            sign,
        });
        j += if opcode == BitfieldOpcode::Get { 3 } else { 4 };
    }
    let key = c.argv[1].clone();
    let mut dirty = false;
    let mut src: Option<Vec<u8>> = None;
    if readonly {
        match db::lookup_key_read(s, c.db, &key) {
            Some(o) if !o.is_string() => {
                add_reply_error(s, c, shared::WRONGTYPEERR);
                return;
            }
            Some(o) => src = Some(read_only_string(o)),
            None => {}
        }
    } else {
        if readonly_cmd {
            add_reply_error(s, c, "BITFIELD_RO only supports the GET subcommand");
            return;
        }
        match lookup_string_for_bit_command(s, c, highest_write_offset) {
            Some(d) => dirty = d,
            None => return,
        }
    }
    let mut changes = 0;
    c.add_reply_array_len(ops.len());
    for op in &ops {
        if op.opcode == BitfieldOpcode::Get {
            // Copy up to 9 bytes, zero-padded, so a read past the end sees zeros.
            let bytes: Vec<u8> = match &src {
                Some(v) => v.clone(),
                None if !readonly => string_buf(s, c).clone(),
                None => Vec::new(),
            };
            let byte = (op.offset >> 3) as usize;
            let mut buf = [0u8; 9];
            for (i, b) in buf.iter_mut().enumerate() {
                if byte + i >= bytes.len() {
                    break;
                }
                *b = bytes[byte + i];
            }
            let rel = op.offset - (byte as u64) * 8;
            if op.sign {
                c.add_reply_long_long(get_signed_bitfield(&buf, rel, op.bits));
            } else {
                c.add_reply_long_long(get_unsigned_bitfield(&buf, rel, op.bits) as i64);
            }
            continue;
        }
        let p = string_buf(s, c);
        if op.sign {
            let oldval = get_signed_bitfield(p, op.offset, op.bits);
            let (newval, retval, overflow) = if op.opcode == BitfieldOpcode::Incrby {
                let (ov, wrapped) =
                    check_signed_bitfield_overflow(oldval, op.i64, op.bits, op.owtype);
                let nv = if ov != 0 {
                    wrapped
                } else {
                    oldval.wrapping_add(op.i64)
                };
                (nv, nv, ov)
            } else {
                let (ov, wrapped) = check_signed_bitfield_overflow(op.i64, 0, op.bits, op.owtype);
                (if ov != 0 { wrapped } else { op.i64 }, oldval, ov)
            };
            if !(overflow != 0 && op.owtype == BFOVERFLOW_FAIL) {
                set_unsigned_bitfield(p, op.offset, op.bits, newval as u64);
                c.add_reply_long_long(retval);
                if dirty || oldval != newval {
                    changes += 1;
                }
            } else {
                c.add_reply_null();
            }
        } else {
            let oldval = get_unsigned_bitfield(p, op.offset, op.bits);
            let (newval, retval, overflow) = if op.opcode == BitfieldOpcode::Incrby {
                let (ov, wrapped) =
                    check_unsigned_bitfield_overflow(oldval, op.i64, op.bits, op.owtype);
                let nv = if ov != 0 {
                    wrapped
                } else {
                    oldval.wrapping_add(op.i64 as u64)
                };
                (nv, nv, ov)
            } else {
                let (ov, wrapped) =
                    check_unsigned_bitfield_overflow(op.i64 as u64, 0, op.bits, op.owtype);
                (if ov != 0 { wrapped } else { op.i64 as u64 }, oldval, ov)
            };
            if !(overflow != 0 && op.owtype == BFOVERFLOW_FAIL) {
                set_unsigned_bitfield(p, op.offset, op.bits, newval);
                c.add_reply_long_long(retval as i64);
                if dirty || oldval != newval {
                    changes += 1;
                }
            } else {
                c.add_reply_null();
            }
        }
    }
    if changes > 0 {
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_STRING, "setbit", &key, c.db);
        s.dirty += changes;
    }
}
// ANCHOR_END: bitfield_generic

/// bitops.c: bitfieldCommand
pub fn bitfield_command(s: &mut Server, c: &mut Client) {
    bitfield_generic(s, c, false);
}

/// bitops.c: bitfieldroCommand
pub fn bitfieldro_command(s: &mut Server, c: &mut Client) {
    bitfield_generic(s, c, true);
}
