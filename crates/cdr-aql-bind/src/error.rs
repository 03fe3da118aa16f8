//! Semantic errors: what has no meaning, and where in the query text.

use cdr_aql::Span;

/// Why a query could not be bound; `span` points into the query text when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError {
    pub message: String,
    pub span: Option<Span>,
}

impl BindError {
    pub fn at(span: Span, message: impl Into<String>) -> Self {
        BindError {
            message: message.into(),
            span: Some(span),
        }
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {}
