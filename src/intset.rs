//! Port of intset.c: the intset blob, only as far as RDB needs it.
//!
//! A Ferredis intset is a sorted vector plus its element width (`Intset`, used by
//! t_set.rs); RDB stores Redis's in-memory layout: the element width, the count, then
//! the elements, all little-endian.

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

/// The intset blob (the intsetBlobLen bytes RDB stores).
pub fn intset_blob(is: &Intset) -> Vec<u8> {
    let enc = is.encoding();
    let v: &[i64] = is;
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

/// intset.c: intsetValidateIntegrity (deep), then the intset. None when the blob
/// is malformed, empty, or not strictly increasing.
pub fn intset_validate_and_decode(p: &[u8]) -> Option<Intset> {
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
    Some(Intset::with_encoding(out, enc))
}

/// An intset's members (sorted, distinct) and its element width (intset.c: intset's
/// `encoding`).
///
/// Redis widens an intset when a wider member arrives and never narrows it again, so
/// the width is part of what DUMP writes. The members live in a plain sorted vector
/// (which every set command uses through `Deref`); the width is remembered as a
/// floor, raised to the widest member each time the vector is lent out for change.
/// Since the vector is sorted, the widest member is its first or its last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intset {
    members: Vec<i64>,
    floor: usize,
}

impl Intset {
    /// An intset of these sorted distinct members, `enc` bytes wide at least.
    pub fn with_encoding(members: Vec<i64>, enc: usize) -> Intset {
        Intset {
            members,
            floor: enc,
        }
    }

    /// intset.c: intset's encoding (2, 4 or 8 bytes per member)
    pub fn encoding(&self) -> usize {
        let ends = match (self.members.first(), self.members.last()) {
            (Some(&a), Some(&b)) => intset_value_encoding(a).max(intset_value_encoding(b)),
            _ => 2,
        };
        ends.max(self.floor)
    }
}

impl From<Vec<i64>> for Intset {
    fn from(members: Vec<i64>) -> Intset {
        Intset { members, floor: 2 }
    }
}

impl std::ops::Deref for Intset {
    type Target = Vec<i64>;
    fn deref(&self) -> &Vec<i64> {
        &self.members
    }
}

impl std::ops::DerefMut for Intset {
    fn deref_mut(&mut self) -> &mut Vec<i64> {
        // Remember the width before any removal can take the widest member away.
        self.floor = self.encoding();
        &mut self.members
    }
}
