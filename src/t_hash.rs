//! Port of t_hash.c: the hash type and its commands.

/// A hash value (placeholder until the type is ported).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {}

impl Hash {
    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        0
    }
}
