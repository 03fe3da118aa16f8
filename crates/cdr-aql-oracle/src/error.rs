//! Why a query could not be evaluated.

/// Why [`crate::evaluate`] gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// A construct the oracle does not define (TERMINOLOGY, functions, coded names, ...): it
    /// refuses rather than guesses.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The query has no meaning (an unknown variable or parameter, a variable declared
    /// twice, …): the binder's error, as the SQL engine reports it.
    #[error("{0}")]
    Bind(String),
    /// A regular expression in a predicate does not compile.
    #[error("invalid regular expression {0}")]
    InvalidRegex(String),
    /// The query would produce more binding tuples or rows than the oracle is willing to build.
    #[error("more than {0} binding tuples or rows")]
    TooLarge(usize),
}
