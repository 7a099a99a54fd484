//! Run-time errors of evaluation, shared by the VM and the reference
//! evaluator so their answers can be compared. An error makes the one rule
//! (or limit key) that raised it not apply; it never stops evaluation.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
pub enum EvalError {
    /// 64-bit arithmetic overflowed.
    #[error("integer overflow")]
    Overflow,
    /// An attribute was read from an entity the request carries no data for.
    #[error("entity `{0}` is not in the request")]
    MissingEntity(String),
    /// An optional attribute or field was read while absent.
    #[error("attribute `{0}` is absent")]
    MissingAttribute(String),
    /// The http mapping read a header the request does not have.
    #[error("header `{0}` is missing")]
    MissingHeader(String),
    /// `ip(…)` or `decimal(…)` of a computed string that does not denote
    /// one (the message quotes an excerpt of the text).
    #[error("{0}")]
    InvalidValue(String),
    /// A value of an unexpected kind reached an instruction; only a bundle
    /// that was not produced by the compiler can cause it.
    #[error("malformed bundle: {0}")]
    Malformed(&'static str),
}

impl EvalError {
    /// The error's kind without its details, for comparing evaluators.
    pub fn kind(&self) -> &'static str {
        match self {
            EvalError::Overflow => "overflow",
            EvalError::MissingEntity(_) => "missing-entity",
            EvalError::MissingAttribute(_) => "missing-attribute",
            EvalError::MissingHeader(_) => "missing-header",
            EvalError::InvalidValue(_) => "invalid-value",
            EvalError::Malformed(_) => "malformed",
        }
    }
}
