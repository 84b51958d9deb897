//! The one way classification fails: the text is not SQL we can parse.

use sqlparser::parser::ParserError;

/// The SQL text could not be parsed, or held no statement at all.
///
/// It is `Clone` and `PartialEq` so that a cached failure can be handed to
/// many callers and compared in tests. A statement that fails here is not
/// necessarily invalid for the database: sqlparser does not know every
/// statement of every backend, so callers that enforce rules should decide
/// explicitly whether unparseable SQL is allowed (failing closed is safest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not parse SQL: {message}")]
pub struct ParseError {
    /// What went wrong: sqlparser's message, which ends with the line and
    /// column (`... at Line: 1, Column: 8`), or `empty statement` when the
    /// text holds only whitespace, comments or semicolons.
    pub message: String,
}

impl ParseError {
    /// The error for text that holds no statement.
    pub(crate) fn empty() -> Self {
        ParseError {
            message: "empty statement".to_owned(),
        }
    }
}

impl From<ParserError> for ParseError {
    fn from(err: ParserError) -> Self {
        let message = match err {
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
            ParserError::RecursionLimitExceeded => {
                "statement nested too deeply (sqlparser's recursion limit)".to_owned()
            }
        };
        ParseError { message }
    }
}
