//! Port of t_zset.c: the sorted set type, its skiplist, and its commands.

/// A zset value (placeholder until the type is ported).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {}

impl ZSet {
    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        0
    }
}
