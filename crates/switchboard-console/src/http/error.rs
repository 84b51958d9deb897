//! [`ApiError`]: every refusal the console answers, as JSON
//! (`{"error": "...", "parameter": "..."}`) with its status code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Serialize;

use crate::filter::BadParameter;

/// Why a request was not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// No token, or the wrong one.
    Unauthorized,
    /// An action, with actions off.
    ActionsOff,
    /// No such pool, rules engine or path.
    NotFound(String),
    /// A query parameter, header or body field that cannot be used.
    BadParameter(BadParameter),
    /// The event stream has all the clients it takes.
    TooManyClients { max: usize },
    /// The console is stopping, or a pool did not answer.
    Unavailable(String),
    /// The action was understood and could not be done (a rules file that
    /// does not load, a rules engine without a file).
    Refused { status: StatusCode, reason: String },
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

impl ApiError {
    pub(crate) fn bad(parameter: &str, reason: impl Into<String>) -> ApiError {
        ApiError::BadParameter(BadParameter {
            parameter: parameter.to_owned(),
            reason: reason.into(),
        })
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ActionsOff => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::TooManyClients { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Refused { status, .. } => *status,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => {
                "this console needs a bearer token: send `Authorization: Bearer <token>`".into()
            }
            ApiError::ActionsOff => {
                "actions are off on this console; start it with an actions token to allow them"
                    .into()
            }
            ApiError::NotFound(what) => what.clone(),
            ApiError::BadParameter(bad) => bad.to_string(),
            ApiError::TooManyClients { max } => format!(
                "the event stream already has its {max} clients; close one or raise max_clients"
            ),
            ApiError::Unavailable(why) => why.clone(),
            ApiError::Refused { reason, .. } => reason.clone(),
        }
    }

    pub(crate) fn response(&self) -> HttpResponse {
        let message = self.message();
        let parameter = match self {
            ApiError::BadParameter(bad) => Some(bad.parameter.as_str()),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status());
        match self {
            ApiError::Unauthorized => {
                response.insert_header((WWW_AUTHENTICATE, r#"Bearer realm="switchboard-console""#));
            }
            ApiError::TooManyClients { .. } => {
                response.insert_header((RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(Body {
            error: &message,
            parameter,
        })
    }
}

impl From<BadParameter> for ApiError {
    fn from(bad: BadParameter) -> Self {
        ApiError::BadParameter(bad)
    }
}

/// A handler's answer: JSON on success, the error's JSON otherwise.
pub(crate) type Answer = Result<HttpResponse, ApiError>;

/// Turns an [`Answer`] into the response sent.
pub(crate) fn respond(answer: Answer) -> HttpResponse {
    answer.unwrap_or_else(|e| e.response())
}
