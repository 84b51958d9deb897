//! The one way classification fails: the text is not SQL we can parse.

use sqlparser::parser::ParserError;
pub use switchboard_core::class::ParseError;

/// sqlparser's error as a [`ParseError`].
pub(crate) fn from_parser(err: ParserError) -> ParseError {
    let message = match err {
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
        ParserError::RecursionLimitExceeded => {
            "statement nested too deeply (sqlparser's recursion limit)".to_owned()
        }
    };
    ParseError { message }
}
