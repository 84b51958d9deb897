//! `GET /api/events`: the event stream, as Server-Sent Events.

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::{Need, authorize};
use super::error::{ApiError, respond};
use crate::feed::hub::Refused;
use crate::feed::stream::EventStream;
use crate::filter::StreamFilter;
use crate::state::State;

/// Streams entries matching the query's filters; with `Last-Event-ID`, the
/// entries after that one first (from the ring), or a `gap` event saying
/// which were forgotten.
pub(crate) async fn events(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    respond((|| {
        authorize(&req, &state.config, Need::Read)?;
        let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|e| ApiError::bad("query", format!("the query string does not parse: {e}")))?
            .into_inner();
        let filter = StreamFilter::parse(&pairs, &state.names)?;
        let last = last_event_id(&req)?;
        let joined = state
            .hub
            .join(filter, last)
            .map_err(|refused| match refused {
                Refused::Full { max } => ApiError::TooManyClients { max },
                Refused::Closed => ApiError::Unavailable("the console is stopping".into()),
            })?;
        let stream = EventStream::new(state.hub.clone(), joined, state.config.keep_alive);
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            // Tells reverse proxies (nginx) not to buffer the stream.
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(stream))
    })())
}

/// The `Last-Event-ID` header: absent or empty for a fresh client, else a
/// position of this stream (0: everything the ring holds).
fn last_event_id(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get("Last-Event-ID") else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("?");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad(
            "Last-Event-ID",
            format!(
                "{text:?} is not an id this stream gave out (a whole number; 0 for everything held)"
            ),
        )
    })
}
