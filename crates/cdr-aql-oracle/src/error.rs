//! Why a query could not be evaluated.

/// Why [`crate::evaluate`] gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    /// A construct the oracle does not define (TERMINOLOGY, functions, FOLDER, ...): it
    /// refuses rather than guesses.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// `$name` used but not given with the query.
    #[error("unknown parameter ${0}")]
    UnknownParameter(String),
    /// A path starts from a variable the FROM clause does not declare.
    #[error("unknown variable {0}")]
    UnknownVariable(String),
    /// The FROM clause declares a variable twice.
    #[error("variable {0} declared twice")]
    DuplicateVariable(String),
    /// A regular expression in a predicate does not compile.
    #[error("invalid regular expression {0}")]
    InvalidRegex(String),
    /// The query would produce more binding tuples or rows than the oracle is willing to build.
    #[error("more than {0} binding tuples or rows")]
    TooLarge(usize),
}
