//! OPT 1.4 XML → [`Template`]. (Being written.)

use crate::model::Template;

/// Limits that keep a hostile OPT from exhausting memory or stack.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_depth: 512, max_bytes: 64 * 1024 * 1024 }
    }
}

/// Why an OPT could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OptError {
    #[error("OPT is not well-formed XML at line {line}, column {column}: {message}")]
    Xml { line: usize, column: usize, message: String },
    #[error("OPT is invalid at line {line}, column {column}: {message}")]
    Invalid { line: usize, column: usize, message: String },
    #[error("OPT exceeds a limit: {0}")]
    Limit(String),
}

/// Parses an OPT 1.4 document.
pub fn parse_opt(_xml: &[u8]) -> Result<Template, OptError> {
    Err(OptError::Limit("not implemented yet".into()))
}
