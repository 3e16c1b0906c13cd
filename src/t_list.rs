//! Port of t_list.c: the list type and its commands (quicklist semantics).

/// A list value (placeholder until the type is ported).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {}

impl List {
    /// object.c: strEncoding, for this type
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// object.c: objectComputeSize, for this type (bytes beyond the object header)
    pub fn compute_size(&self) -> usize {
        0
    }
}
