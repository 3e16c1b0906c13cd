//! Port of ziplist.c: reading the ziplist blobs of older RDB files and DUMP
//! payloads (RDB types 10, 12, 13 and the nodes of 14). Redis 7.0 never writes a
//! ziplist, it only converts them to listpacks on load; so does this.

use bytes::Bytes;

/// ziplist.c: ZIPLIST_HEADER_SIZE (zlbytes, zltail, zllen)
const ZIPLIST_HEADER_SIZE: usize = 10;
/// ziplist.c: ZIP_END
const ZIP_END: u8 = 0xFF;
/// ziplist.c: ZIP_BIG_PREVLEN
const ZIP_BIG_PREVLEN: u8 = 254;

fn rd(p: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    p.get(at..at.checked_add(n)?)
}

/// ziplist.c: ziplistValidateIntegrity (deep) with zipEntrySafe, followed by reading
/// every entry: the elements as strings, integers in decimal. None when corrupt.
pub fn ziplist_validate_and_decode(p: &[u8]) -> Option<Vec<Bytes>> {
    if p.len() < ZIPLIST_HEADER_SIZE + 1 {
        return None;
    }
    let zlbytes = u32::from_le_bytes(p[0..4].try_into().ok()?) as usize;
    let zltail = u32::from_le_bytes(p[4..8].try_into().ok()?) as usize;
    let zllen = u16::from_le_bytes(p[8..10].try_into().ok()?) as usize;
    if zlbytes != p.len() || p[p.len() - 1] != ZIP_END || zltail > p.len() - 1 {
        return None;
    }
    let end = p.len() - 1;
    let mut pos = ZIPLIST_HEADER_SIZE;
    let mut prev_len = 0usize;
    let mut last = ZIPLIST_HEADER_SIZE;
    let mut out = Vec::new();
    while pos < end {
        let start = pos;
        // The previous entry's length, in 1 or 5 bytes.
        let pl = if p[pos] < ZIP_BIG_PREVLEN {
            pos += 1;
            p[pos - 1] as usize
        } else {
            let v = u32::from_le_bytes(rd(p, pos + 1, 4)?.try_into().ok()?) as usize;
            pos += 5;
            v
        };
        if pl != prev_len {
            return None;
        }
        let b = *p.get(pos)?;
        // Strings: 6, 14 or 32-bit lengths (header bytes, length).
        let strlen = match b >> 6 {
            0 => Some((1, (b & 0x3f) as usize)),
            1 => Some((2, (((b & 0x3f) as usize) << 8) | *p.get(pos + 1)? as usize)),
            2 => Some((
                5,
                u32::from_be_bytes(rd(p, pos + 1, 4)?.try_into().ok()?) as usize,
            )),
            _ => None,
        };
        let ele = match strlen {
            Some((hdr, len)) => {
                let s = Bytes::copy_from_slice(rd(p, pos + hdr, len)?);
                pos += hdr + len;
                s
            }
            None => {
                pos += 1;
                let (v, n): (i64, usize) = match b {
                    0xC0 => (
                        i16::from_le_bytes(rd(p, pos, 2)?.try_into().ok()?) as i64,
                        2,
                    ),
                    0xD0 => (
                        i32::from_le_bytes(rd(p, pos, 4)?.try_into().ok()?) as i64,
                        4,
                    ),
                    0xE0 => (i64::from_le_bytes(rd(p, pos, 8)?.try_into().ok()?), 8),
                    0xF0 => {
                        let d = rd(p, pos, 3)?;
                        ((i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64, 3)
                    }
                    0xFE => (rd(p, pos, 1)?[0] as i8 as i64, 1),
                    0xF1..=0xFD => ((b & 0x0f) as i64 - 1, 0),
                    _ => return None,
                };
                pos += n;
                Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
            }
        };
        if pos > end {
            return None;
        }
        prev_len = pos - start;
        last = start;
        out.push(ele);
    }
    if (!out.is_empty() && last != zltail) || (out.is_empty() && zltail != ZIPLIST_HEADER_SIZE) {
        return None;
    }
    if zllen != u16::MAX as usize && zllen != out.len() {
        return None;
    }
    Some(out)
}
