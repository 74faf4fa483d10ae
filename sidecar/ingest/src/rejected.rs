//! One piece of input an adapter could not use, whatever the platform.

/// An unusable message or item: a reason for the counters ([`crate::EventSink::reject`]) and a
/// detail for the log. Every adapter's decoder returns this one type, so counting and logging
/// rejects is the same code everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// A short fixed name (`bad_protobuf`, `absurd_gift`…): the counters' key.
    pub reason: &'static str,
    pub detail: String,
}

impl Rejected {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}
