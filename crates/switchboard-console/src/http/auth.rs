//! Who may do what: bearer tokens for reading and for actions.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use super::error::ApiError;
use crate::config::ConsoleConfig;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read data: the read token if one is set (the actions token also
    /// reads).
    Read,
    /// Take an action: actions must be on, and the actions token given.
    Act,
}

/// Whether `req` may do what it `need`s.
pub(crate) fn authorize(
    req: &HttpRequest,
    config: &ConsoleConfig,
    need: Need,
) -> Result<(), ApiError> {
    let presented = bearer(req);
    let holds = |token: &Option<crate::Token>| {
        token
            .as_ref()
            .zip(presented)
            .is_some_and(|(t, p)| t.matches(p))
    };
    match need {
        Need::Read if config.token.is_none() || holds(&config.token) || holds(&config.actions) => {
            Ok(())
        }
        Need::Read => Err(ApiError::Unauthorized),
        Need::Act if config.actions.is_none() => Err(ApiError::ActionsOff),
        Need::Act if holds(&config.actions) => Ok(()),
        Need::Act => Err(ApiError::Unauthorized),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
