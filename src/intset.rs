//! Port of intset.c: the intset blob, only as far as RDB needs it.
//!
//! A Ferredis intset is a sorted `Vec<i64>` (t_set.rs); RDB stores Redis's in-memory
//! layout: the element width, the count, then the elements, all little-endian.

/// intset.c: _intsetValueEncoding (the width every member needs)
fn intset_value_encoding(v: i64) -> usize {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        8
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        4
    } else {
        2
    }
}

/// The intset blob of sorted distinct integers (what intsetBlobLen bytes hold).
/// Like an intset that was only ever grown, its width is the widest member's.
pub fn intset_blob(v: &[i64]) -> Vec<u8> {
    let enc = v
        .iter()
        .map(|&x| intset_value_encoding(x))
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(8 + enc * v.len());
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for &x in v {
        match enc {
            2 => out.extend_from_slice(&(x as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(x as i32).to_le_bytes()),
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
    out
}

/// intset.c: intsetValidateIntegrity (deep), then the members. None when the blob
/// is malformed, empty, or not strictly increasing.
pub fn intset_validate_and_decode(p: &[u8]) -> Option<Vec<i64>> {
    if p.len() < 8 {
        return None;
    }
    let enc = u32::from_le_bytes(p[0..4].try_into().ok()?) as usize;
    if !matches!(enc, 2 | 4 | 8) {
        return None;
    }
    let count = u32::from_le_bytes(p[4..8].try_into().ok()?) as usize;
    if count == 0 || 8 + count.checked_mul(enc)? != p.len() {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for c in p[8..].chunks_exact(enc) {
        let x = match enc {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes(c.try_into().ok()?),
        };
        if out.last().is_some_and(|&prev| x <= prev) {
            return None;
        }
        out.push(x);
    }
    Some(out)
}
