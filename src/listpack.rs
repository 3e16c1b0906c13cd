//! Port of listpack.c: the listpack blob, only as far as RDB needs it.
//!
//! Ferredis keeps small hashes, sorted sets and list nodes as vectors, not as
//! listpacks; this module writes the exact bytes Redis would have in memory (which
//! is what RDB and DUMP store) and reads them back, validating every entry.

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
