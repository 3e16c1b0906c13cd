//! Port of t_set.c: the set type and its commands.

/// A set value (placeholder until the type is ported).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Set {}

impl Set {
    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        "intset"
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        0
    }
}
