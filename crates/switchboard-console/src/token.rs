//! [`Token`]: a bearer token, kept out of `Debug` and compared in constant
//! time.

use std::fmt;

/// A bearer token that requests must present (`Authorization: Bearer ...`).
///
/// Its `Debug` form never shows it, and presented tokens are compared in
/// time that depends only on their lengths, so response times do not give
/// the token away byte by byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Box<str>);

impl Token {
    /// A token. It must be at least [`Token::MIN_LEN`] characters of
    /// visible ASCII (what an HTTP header can carry unchanged).
    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token: String = token.into();
        if token.len() < Self::MIN_LEN {
            return Err(format!(
                "a console token must be at least {} characters long",
                Self::MIN_LEN
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a console token must be visible ASCII, without spaces".into());
        }
        Ok(Token(token.into()))
    }

    /// Shortest token accepted: short ones are guessed.
    pub const MIN_LEN: usize = 16;

    /// Whether `presented` is this token, in time independent of where
    /// they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut differ = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            // Compare against the same position, or against the token itself
            // when `presented` is shorter, so the work depends on a's length.
            let y = b.get(i).copied().unwrap_or(!*x);
            differ |= usize::from(x ^ y);
        }
        differ == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let t = Token::new("0123456789abcdef").unwrap_or_else(|e| panic!("{e}"));
        assert!(t.matches("0123456789abcdef"));
        for other in [
            "",
            "0123456789abcde",
            "0123456789abcdeF",
            "0123456789abcdef0",
            "x123456789abcdef",
        ] {
            assert!(!t.matches(other), "{other:?} matched");
        }
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused_and_debug_hides_it() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("0123456789 abcdef").is_err());
        assert!(Token::new("0123456789abcdé0").is_err());
        let t = Token::new("secret-secret-secret").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{t:?}").contains("secret"));
    }
}
