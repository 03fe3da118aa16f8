//! Query errors: what is wrong and where in the query text.

use cdr_aql::Span;

/// Why a query was refused or failed; `span` points into the query text when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    pub span: Option<Span>,
}

pub type Result<T> = std::result::Result<T, QueryError>;

impl QueryError {
    pub fn at(span: Span, message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
            span: Some(span),
        }
    }

    pub fn plain(message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
            span: None,
        }
    }

    /// Attaches a span if the error has none yet.
    pub fn or_at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
}
