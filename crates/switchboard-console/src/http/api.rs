//! The read side of the API: pools, their activity, the console itself,
//! and the health check.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::json;
use switchboard::PoolStatus;

use super::auth::{Need, authorize};
use super::error::{Answer, ApiError, respond};
use crate::state::{State, Watched};

/// How long a pool's manager has to answer a status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool's status, or why there is none.
async fn status(watched: &Watched) -> Result<PoolStatus, String> {
    match actix_web::rt::time::timeout(STATUS_TIMEOUT, watched.pool.status()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(format!("pool {:?} did not answer: {e}", &*watched.name)),
        Err(_) => Err(format!(
            "pool {:?} did not answer within {STATUS_TIMEOUT:?}",
            &*watched.name
        )),
    }
}

/// One item of `GET /api/pools`: a `PoolStatus`, or the pool's name and
/// why it did not answer.
#[derive(Serialize)]
#[serde(untagged)]
enum PoolItem {
    Status(PoolStatus),
    Gone { pool: String, error: String },
}

/// `GET /api/pools`: every watched pool's status, in watch order.
pub(crate) async fn pools(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    respond(
        async {
            authorize(&req, &state.config, Need::Read)?;
            let items = join_all(state.pools.iter().map(|w| async move {
                match status(w).await {
                    Ok(s) => PoolItem::Status(s),
                    Err(error) => PoolItem::Gone {
                        pool: w.name.to_string(),
                        error,
                    },
                }
            }))
            .await;
            Ok(HttpResponse::Ok().json(items))
        }
        .await,
    )
}

/// The watched pool `name`, or a 404 naming the watched ones.
pub(super) fn watched<'a>(state: &'a State, name: &str) -> Result<&'a Watched, ApiError> {
    state.pool(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no pool named {name:?} is watched by this console; watched: {}",
            state.pool_names()
        ))
    })
}

/// `GET /api/pools/{name}`: one pool's `PoolStatus`.
pub(crate) async fn pool(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    respond(
        async {
            authorize(&req, &state.config, Need::Read)?;
            let w = watched(&state, &name)?;
            let status = status(w).await.map_err(ApiError::Unavailable)?;
            Ok(HttpResponse::Ok().json(status))
        }
        .await,
    )
}

/// `GET /api/pools/{name}/activity`: per-second counts, denials, slowest
/// statements and leaks.
pub(crate) async fn activity(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let answer: Answer = (|| {
        authorize(&req, &state.config, Need::Read)?;
        let w = watched(&state, &name)?;
        let view = w.feed.activity().view(&w.name, chrono::Utc::now());
        Ok(HttpResponse::Ok().json(view))
    })();
    respond(answer)
}

/// `GET /api/audit`: each watched audit log's counters and its last
/// verification.
pub(crate) async fn audit(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let answer: Answer = (|| {
        authorize(&req, &state.config, Need::Read)?;
        let views: Vec<_> = state.audits.iter().map(|a| a.view()).collect();
        Ok(HttpResponse::Ok().json(views))
    })();
    respond(answer)
}

/// `GET /api/console`: what this console watches and may do, and its
/// stream's counters.
pub(crate) async fn console(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let answer: Answer = (|| {
        authorize(&req, &state.config, Need::Read)?;
        let rules: Vec<_> = state
            .rules
            .iter()
            .map(|r| {
                json!({
                    "name": r.engine.name(),
                    "read_only": r.engine.is_read_only(),
                    "rules": r.engine.rules_len(),
                    "reloadable": r.file.is_some(),
                })
            })
            .collect();
        Ok(HttpResponse::Ok().json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pools": state.names.iter().map(|n| n.as_ref()).collect::<Vec<_>>(),
            "rules": rules,
            "audits": state.audits.iter().map(|a| a.monitor.name()).collect::<Vec<_>>(),
            "actions": state.config.actions.is_some(),
            "metrics": state.metrics.is_some(),
            "history_s": state.config.history.as_secs(),
            "max_clients": state.config.max_clients,
            "stream_rate": state.config.stream_rate,
            "stats": state.stats(),
        })))
    })();
    respond(answer)
}

/// `GET /healthz`: 200 while every watched pool's manager runs, 503 when
/// one has stopped. Needs no token; says nothing but that.
pub(crate) async fn healthz(state: web::Data<State>) -> HttpResponse {
    let stopped: Vec<&str> = state
        .pools
        .iter()
        .filter(|w| !w.pool.addr().connected())
        .map(|w| w.name.as_ref())
        .collect();
    if stopped.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "degraded", "stopped": stopped }))
    }
}

/// `GET /metrics`: Prometheus' text format.
pub(crate) async fn metrics(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let answer: Answer = (|| {
        authorize(&req, &state.config, Need::Read)?;
        let prometheus = state
            .metrics
            .as_ref()
            .ok_or_else(|| ApiError::NotFound("metrics are off on this console".into()))?;
        let stats = state.stats();
        metrics::with_local_recorder(&*prometheus.recorder, || {
            let s = &stats.stream;
            metrics::gauge!("switchboard_console_stream_clients").set(s.clients as f64);
            metrics::counter!("switchboard_console_stream_clients_dropped_total")
                .absolute(s.dropped_slow);
            metrics::counter!("switchboard_console_stream_clients_refused_total")
                .absolute(s.refused);
            metrics::counter!("switchboard_console_stream_skipped_total").absolute(s.skipped);
            metrics::counter!("switchboard_console_missed_events_total").absolute(stats.missed);
        });
        let text = state.render_metrics().unwrap_or_default();
        Ok(HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text))
    })();
    respond(answer)
}
