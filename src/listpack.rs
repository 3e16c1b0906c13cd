//! Port of listpack.c: the listpack blob, its entries and the operations on it.
//!
//! A small hash is kept as a listpack in memory, in Redis's exact byte format, so
//! RDB and DUMP write it as it is. Sorted sets and list nodes are still vectors;
//! for them this module writes the bytes Redis would have (`Listpack`, the builder)
//! and reads them back, validating every entry. Positions are byte offsets into
//! the blob (Redis's `unsigned char *p`).

use std::borrow::Cow;

use bytes::Bytes;

/// listpack.c: LP_HDR_SIZE (total bytes u32 + element count u16)
pub const LP_HDR_SIZE: usize = 6;
/// listpack.c: LP_HDR_NUMELE_UNKNOWN
const LP_HDR_NUMELE_UNKNOWN: usize = u16::MAX as usize;
/// listpack.c: LP_EOF
const LP_EOF: u8 = 0xFF;

/// A listpack being built by appending (listpack.c: lpNew + lpAppend).
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

/// listpack.c: lpEncodeBacklen (the entry length, written to be read backwards)
fn lp_encode_backlen(out: &mut Vec<u8>, l: usize) {
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
    } else if l < 2097151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else if l < 268435455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    }
}

/// listpack.c: lpEncodeIntegerGetType (the smallest integer encoding)
fn lp_encode_integer(out: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1i64 << 13) + v } else { v };
        out.extend_from_slice(&[(u >> 8) as u8 | 0xC0, u as u8]);
    } else if (-32768..=32767).contains(&v) {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8388608..=8388607).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// listpack.c: lpEncodeString
fn lp_encode_string(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

impl Listpack {
    /// listpack.c: lpNew
    pub fn new() -> Self {
        Listpack {
            buf: vec![0; LP_HDR_SIZE],
            count: 0,
        }
    }

    /// listpack.c: lpBytes (what the finished blob will take)
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// listpack.c: lpLength
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// listpack.c: lpAppend (a string that reads as an integer is stored as one)
    pub fn append(&mut self, ele: &[u8]) {
        match crate::util::string2ll(ele) {
            Some(v) if ele.len() < 21 => self.append_integer(v),
            _ => {
                let start = self.buf.len();
                lp_encode_string(&mut self.buf, ele);
                let l = self.buf.len() - start;
                lp_encode_backlen(&mut self.buf, l);
                self.count += 1;
            }
        }
    }

    /// listpack.c: lpAppendInteger
    pub fn append_integer(&mut self, v: i64) {
        let start = self.buf.len();
        lp_encode_integer(&mut self.buf, v);
        let l = self.buf.len() - start;
        lp_encode_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// The blob: header (total bytes, element count), entries, terminator.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = self.count.min(LP_HDR_NUMELE_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

/// One entry as lpGet reads it: a string, or an integer stored as one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LpEntry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> LpEntry<'a> {
    /// The entry as a string (an integer in its decimal form, as lpGet gives it).
    pub fn to_cow(self) -> Cow<'a, [u8]> {
        match self {
            LpEntry::Str(s) => Cow::Borrowed(s),
            LpEntry::Int(v) => Cow::Owned(itoa::Buffer::new().format(v).as_bytes().to_vec()),
        }
    }

    /// listpack.c: lpCompare (an integer entry compares as its decimal string)
    pub fn eq_bytes(self, s: &[u8]) -> bool {
        match self {
            LpEntry::Str(x) => x == s,
            LpEntry::Int(v) => itoa::Buffer::new().format(v).as_bytes() == s,
        }
    }
}

/// How many bytes lpEncodeBacklen writes for an entry of `l` bytes.
fn lp_backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// listpack.c: lpCurrentEncodedSizeUnsafe + lpGet: the entry at `pos` and the size
/// of its encoding (without the back-length). The blob must be valid.
fn lp_decode(p: &[u8], pos: usize) -> (LpEntry<'_>, usize) {
    let b = p[pos];
    if b & 0x80 == 0 {
        (LpEntry::Int((b & 0x7f) as i64), 1)
    } else if b & 0xC0 == 0x80 {
        let len = (b & 0x3f) as usize;
        (LpEntry::Str(&p[pos + 1..pos + 1 + len]), 1 + len)
    } else if b & 0xE0 == 0xC0 {
        let u = (((b & 0x1f) as i64) << 8) | p[pos + 1] as i64;
        let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
        (LpEntry::Int(v), 2)
    } else if b & 0xF0 == 0xE0 {
        let len = (((b & 0x0f) as usize) << 8) | p[pos + 1] as usize;
        (LpEntry::Str(&p[pos + 2..pos + 2 + len]), 2 + len)
    } else {
        match b {
            0xF0 => {
                let len = u32::from_le_bytes(p[pos + 1..pos + 5].try_into().unwrap()) as usize;
                (LpEntry::Str(&p[pos + 5..pos + 5 + len]), 5 + len)
            }
            0xF1 => {
                let v = i16::from_le_bytes([p[pos + 1], p[pos + 2]]);
                (LpEntry::Int(v as i64), 3)
            }
            0xF2 => {
                let v = i32::from_le_bytes([0, p[pos + 1], p[pos + 2], p[pos + 3]]) >> 8;
                (LpEntry::Int(v as i64), 4)
            }
            0xF3 => {
                let v = i32::from_le_bytes(p[pos + 1..pos + 5].try_into().unwrap());
                (LpEntry::Int(v as i64), 5)
            }
            _ => {
                let v = i64::from_le_bytes(p[pos + 1..pos + 9].try_into().unwrap());
                (LpEntry::Int(v), 9)
            }
        }
    }
}

/// An empty listpack blob (listpack.c: lpNew), allocated to its exact size.
pub fn lp_new() -> Vec<u8> {
    let mut p = Vec::with_capacity(LP_HDR_SIZE + 1);
    p.extend_from_slice(&[(LP_HDR_SIZE + 1) as u8, 0, 0, 0, 0, 0, LP_EOF]);
    p
}

/// listpack.c: lpGet
pub fn lp_get(p: &[u8], pos: usize) -> LpEntry<'_> {
    lp_decode(p, pos).0
}

/// The whole entry's size at `pos`: encoding, data and back-length.
fn lp_entry_size(p: &[u8], pos: usize) -> usize {
    let (_, l) = lp_decode(p, pos);
    l + lp_backlen_size(l)
}

/// listpack.c: lpFirst
pub fn lp_first(p: &[u8]) -> Option<usize> {
    (p[LP_HDR_SIZE] != LP_EOF).then_some(LP_HDR_SIZE)
}

/// listpack.c: lpNext
pub fn lp_next(p: &[u8], pos: usize) -> Option<usize> {
    let n = pos + lp_entry_size(p, pos);
    (p[n] != LP_EOF).then_some(n)
}

/// listpack.c: lpDecodeBacklen + lpPrev: the entry before `pos` (which may be the
/// terminator's offset), read through the back-length that ends it.
pub fn lp_prev(p: &[u8], pos: usize) -> Option<usize> {
    if pos <= LP_HDR_SIZE {
        return None;
    }
    let mut at = pos - 1;
    let mut val = 0usize;
    let mut shift = 0;
    loop {
        val |= ((p[at] & 127) as usize) << shift;
        if p[at] & 128 == 0 {
            break;
        }
        at -= 1;
        shift += 7;
    }
    // The back-length counts the encoding and data, not itself.
    Some(pos - lp_backlen_size(val) - val)
}

/// listpack.c: lpLast
pub fn lp_last(p: &[u8]) -> Option<usize> {
    lp_prev(p, p.len() - 1)
}

/// listpack.c: lpInsert (before the entry at `pos`, or at the end when `pos` is
/// the terminator's offset), for several entries at once.
pub fn lp_insert(p: &mut Vec<u8>, pos: usize, eles: &[&[u8]]) {
    let mut buf = Vec::new();
    for e in eles {
        lp_encode_entry(&mut buf, e);
    }
    lp_splice(p, pos, 0, &buf, eles.len() as isize);
}

/// listpack.c: lpLength (the header's count, or a walk when it says "unknown")
pub fn lp_length(p: &[u8]) -> usize {
    let n = u16::from_le_bytes([p[4], p[5]]) as usize;
    if n != LP_HDR_NUMELE_UNKNOWN {
        return n;
    }
    let mut count = 0;
    let mut pos = lp_first(p);
    while let Some(at) = pos {
        count += 1;
        pos = lp_next(p, at);
    }
    count
}

/// listpack.c: lpSeek, for a non-negative index
pub fn lp_seek(p: &[u8], index: usize) -> Option<usize> {
    let mut pos = lp_first(p);
    for _ in 0..index {
        pos = lp_next(p, pos?);
    }
    pos
}

/// listpack.c: lpFind. The first entry equal to `s`, from `pos` on, looking at
/// one entry and then skipping `skip` (a hash's fields: skip 1, the values).
pub fn lp_find(p: &[u8], mut pos: Option<usize>, s: &[u8], skip: usize) -> Option<usize> {
    while let Some(at) = pos {
        if lp_get(p, at).eq_bytes(s) {
            return Some(at);
        }
        pos = lp_next(p, at);
        for _ in 0..skip {
            pos = lp_next(p, pos?);
        }
    }
    None
}

/// listpack.c: lpEncodeGetType + the writers: one entry, back-length included.
/// A string that reads as an integer is stored as one.
fn lp_encode_entry(out: &mut Vec<u8>, ele: &[u8]) {
    let start = out.len();
    match crate::util::string2ll(ele) {
        Some(v) if ele.len() < 21 => lp_encode_integer(out, v),
        _ => lp_encode_string(out, ele),
    }
    let l = out.len() - start;
    lp_encode_backlen(out, l);
}

/// listpack.c: lpInsert/lpDeleteRange's common part: replace `remove` bytes at
/// `at` by `insert`, and update the header (its count stays "unknown" once it is).
/// The blob is reallocated to its exact new size, as Redis reallocates a listpack.
fn lp_splice(p: &mut Vec<u8>, at: usize, remove: usize, insert: &[u8], delta: isize) {
    if insert.len() > remove {
        p.reserve_exact(insert.len() - remove);
    }
    p.splice(at..at + remove, insert.iter().copied());
    if insert.len() < remove {
        p.shrink_to_fit();
    }
    let total = p.len() as u32;
    p[0..4].copy_from_slice(&total.to_le_bytes());
    let n = u16::from_le_bytes([p[4], p[5]]) as usize;
    if n != LP_HDR_NUMELE_UNKNOWN {
        let n = (n as isize + delta) as usize;
        let n = n.min(LP_HDR_NUMELE_UNKNOWN) as u16;
        p[4..6].copy_from_slice(&n.to_le_bytes());
    }
}

/// listpack.c: lpBatchAppend: the entries go at the end, before the terminator.
pub fn lp_append(p: &mut Vec<u8>, eles: &[&[u8]]) {
    let mut buf = Vec::new();
    for e in eles {
        lp_encode_entry(&mut buf, e);
    }
    let at = p.len() - 1;
    lp_splice(p, at, 0, &buf, eles.len() as isize);
}

/// listpack.c: lpReplace (the entry at `pos` becomes `ele`)
pub fn lp_replace(p: &mut Vec<u8>, pos: usize, ele: &[u8]) {
    let mut buf = Vec::new();
    lp_encode_entry(&mut buf, ele);
    let old = lp_entry_size(p, pos);
    lp_splice(p, pos, old, &buf, 0);
}

/// listpack.c: lpDeleteRangeWithEntry (`num` entries from `pos`)
pub fn lp_delete_range(p: &mut Vec<u8>, pos: usize, num: usize) {
    let mut end = pos;
    let mut n = 0;
    while n < num && p[end] != LP_EOF {
        end += lp_entry_size(p, end);
        n += 1;
    }
    lp_splice(p, pos, end - pos, &[], -(n as isize));
}

fn rd(p: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    p.get(at..at.checked_add(n)?)
}

/// listpack.c: lpValidateIntegrity with deep validation, followed by reading every
/// entry (lpGet): the elements as strings, integers in their decimal form. None
/// when anything is out of place.
pub fn lp_validate_and_decode(p: &[u8]) -> Option<Vec<Bytes>> {
    if p.len() < LP_HDR_SIZE + 1 {
        return None;
    }
    let total = u32::from_le_bytes(p[0..4].try_into().ok()?) as usize;
    if total != p.len() || p[p.len() - 1] != LP_EOF {
        return None;
    }
    let numele = u16::from_le_bytes(p[4..6].try_into().ok()?) as usize;
    let end = p.len() - 1;
    let mut pos = LP_HDR_SIZE;
    let mut out = Vec::new();
    while pos < end {
        let b = p[pos];
        let (ele, enc_len): (Bytes, usize) = if b & 0x80 == 0 {
            (int_bytes((b & 0x7f) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let len = (b & 0x3f) as usize;
            (Bytes::copy_from_slice(rd(p, pos + 1, len)?), 1 + len)
        } else if b & 0xE0 == 0xC0 {
            let lo = *p.get(pos + 1)? as i64;
            let u = (((b & 0x1f) as i64) << 8) | lo;
            let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
            (int_bytes(v), 2)
        } else if b & 0xF0 == 0xE0 {
            let len = (((b & 0x0f) as usize) << 8) | *p.get(pos + 1)? as usize;
            (Bytes::copy_from_slice(rd(p, pos + 2, len)?), 2 + len)
        } else {
            match b {
                0xF0 => {
                    let len = u32::from_le_bytes(rd(p, pos + 1, 4)?.try_into().ok()?) as usize;
                    (Bytes::copy_from_slice(rd(p, pos + 5, len)?), 5 + len)
                }
                0xF1 => {
                    let v = i16::from_le_bytes(rd(p, pos + 1, 2)?.try_into().ok()?);
                    (int_bytes(v as i64), 3)
                }
                0xF2 => {
                    let d = rd(p, pos + 1, 3)?;
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    (int_bytes(v as i64), 4)
                }
                0xF3 => {
                    let v = i32::from_le_bytes(rd(p, pos + 1, 4)?.try_into().ok()?);
                    (int_bytes(v as i64), 5)
                }
                0xF4 => {
                    let v = i64::from_le_bytes(rd(p, pos + 1, 8)?.try_into().ok()?);
                    (int_bytes(v), 9)
                }
                _ => return None,
            }
        };
        // The back-length must follow and describe this entry.
        let mut bl = Vec::with_capacity(5);
        lp_encode_backlen(&mut bl, enc_len);
        if rd(p, pos + enc_len, bl.len())? != bl.as_slice() {
            return None;
        }
        pos += enc_len + bl.len();
        if pos > end {
            return None;
        }
        out.push(ele);
    }
    if numele != LP_HDR_NUMELE_UNKNOWN && numele != out.len() {
        return None;
    }
    Some(out)
}

fn int_bytes(v: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blob the builder makes for these elements.
    fn built(items: &[Vec<u8>]) -> Vec<u8> {
        let mut lp = Listpack::new();
        for i in items {
            lp.append(i);
        }
        lp.finish()
    }

    fn elements(p: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut pos = lp_first(p);
        while let Some(at) = pos {
            out.push(lp_get(p, at).to_cow().into_owned());
            pos = lp_next(p, at);
        }
        out
    }

    /// Appends, replacements and deletions leave exactly the bytes a listpack built
    /// from scratch would have (what DUMP compares against redis-server), with every
    /// kind of entry: small and large integers, short, medium and long strings.
    #[test]
    fn operations_keep_the_exact_bytes() {
        let kinds: Vec<Vec<u8>> = vec![
            b"7".to_vec(),
            b"-4000".to_vec(),
            b"70000".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"01".to_vec(),
            b"".to_vec(),
            vec![b'x'; 100],
            vec![b'y'; 5000],
            b"field".to_vec(),
        ];
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut p = lp_new();
        assert_eq!(p, built(&model));
        for (i, k) in kinds.iter().enumerate() {
            lp_append(&mut p, &[k, kinds[(i + 3) % kinds.len()].as_slice()]);
            model.push(k.clone());
            model.push(kinds[(i + 3) % kinds.len()].clone());
            assert_eq!(p, built(&model));
            assert_eq!(lp_length(&p), model.len());
            assert_eq!(p.capacity(), p.len(), "a listpack is allocated to its size");
        }
        for (i, k) in kinds.iter().enumerate() {
            let at = lp_seek(&p, i * 2 + 1).unwrap();
            lp_replace(&mut p, at, k);
            model[i * 2 + 1] = k.clone();
            assert_eq!(p, built(&model));
        }
        // Walking backwards (through the back-lengths) meets every entry.
        let mut back = Vec::new();
        let mut pos = lp_last(&p);
        while let Some(at) = pos {
            back.push(lp_get(&p, at).to_cow().into_owned());
            pos = lp_prev(&p, at);
        }
        back.reverse();
        assert_eq!(back, model);
        // Inserting in the middle, at the head and before the terminator.
        for (i, k) in kinds.iter().enumerate() {
            let idx = (i * 5) % (model.len() + 1);
            let at = lp_seek(&p, idx).unwrap_or(p.len() - 1);
            lp_insert(&mut p, at, &[k]);
            model.insert(idx, k.clone());
            assert_eq!(p, built(&model));
        }
        let at = lp_find(&p, lp_first(&p), &[b'x'; 100], 1).unwrap();
        assert_eq!(lp_get(&p, at), LpEntry::Str(&[b'x'; 100]));
        assert_eq!(lp_find(&p, lp_first(&p), b"nope", 1), None);
        // An integer entry matches its decimal text only.
        assert!(lp_get(&p, lp_first(&p).unwrap()).eq_bytes(b"7"));
        assert!(!lp_get(&p, lp_first(&p).unwrap()).eq_bytes(b"07"));
        while !model.is_empty() {
            let i = (model.len() / 2) & !1;
            let n = 2.min(model.len() - i);
            let at = lp_seek(&p, i).unwrap();
            lp_delete_range(&mut p, at, n);
            model.drain(i..i + n);
            assert_eq!(p, built(&model));
            assert_eq!(elements(&p), model);
        }
        assert_eq!(lp_first(&p), None);
    }

    #[test]
    fn encode_decode() {
        let items: Vec<&[u8]> = vec![
            b"a",
            b"0",
            b"-1",
            b"127",
            b"128",
            b"4095",
            b"-4096",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483649",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"01",
            b"-0",
            b"",
            &[b'x'; 63],
            &[b'y'; 64],
            &[b'z'; 4096],
        ];
        let mut lp = Listpack::new();
        for i in &items {
            lp.append(i);
        }
        let blob = lp.finish();
        let back = lp_validate_and_decode(&blob).unwrap();
        assert_eq!(back.len(), items.len());
        for (a, b) in items.iter().zip(back.iter()) {
            assert_eq!(*a, b.as_ref());
        }
    }
}
