//! Actions, off unless an actions token is configured: switch a rules
//! engine's read-only mode, reload its rules file, recycle a pool, verify
//! an audit log. Each answers with its outcome and puts it on the event
//! stream (SSE event type `action`), through `announced`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Need, authorize};
use super::error::{ApiError, respond};
use crate::state::{State, WatchedRules};

fn engine<'a>(state: &'a State, name: &str) -> Result<&'a WatchedRules, ApiError> {
    state.rules(name).ok_or_else(|| {
        let known: Vec<&str> = state.rules.iter().map(|r| r.engine.name()).collect();
        ApiError::NotFound(format!(
            "no rules engine named {name:?} is watched by this console; watched: {}",
            known.join(", ")
        ))
    })
}

/// Answers an action with its outcome, and puts the outcome on the stream,
/// stamped with the action, what it acted on (`subject`: the key and the
/// name) and when.
fn announced(
    state: &State,
    status: StatusCode,
    action: &str,
    subject: (&str, &str),
    mut outcome: Value,
) -> HttpResponse {
    if let Some(map) = outcome.as_object_mut() {
        map.insert("kind".into(), "Action".into());
        map.insert("action".into(), action.into());
        map.insert(subject.0.into(), subject.1.into());
        map.insert("at".into(), json!(chrono::Utc::now()));
    }
    state.announce(&outcome.to_string());
    HttpResponse::build(status).json(outcome)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadOnly {
    on: bool,
}

/// `POST /api/rules/{name}/read-only` with `{"on": true|false}`.
pub(crate) async fn read_only(
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    respond((|| {
        authorize(&req, &state.config, Need::Act)?;
        let rules = engine(&state, &name)?;
        let ReadOnly { on } = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad(
                "on",
                format!("the body must be {{\"on\": true}} or {{\"on\": false}}: {e}"),
            )
        })?;
        let was = rules.engine.is_read_only();
        rules.engine.set_read_only(on);
        tracing::info!(target: "switchboard::console", rules = rules.engine.name(), read_only = on, "read-only mode set from the console");
        Ok(announced(
            &state,
            StatusCode::OK,
            "read_only",
            ("rules", rules.engine.name()),
            json!({ "outcome": "done", "read_only": on, "was": was }),
        ))
    })())
}

/// `POST /api/rules/{name}/reload`: reads the engine's rules file again. A
/// file that does not load leaves the old rules in force and answers 422.
pub(crate) async fn reload(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let prepared = (|| -> Result<_, ApiError> {
        authorize(&req, &state.config, Need::Act)?;
        let rules = engine(&state, &name)?;
        let file = rules.file.clone().ok_or_else(|| ApiError::Refused {
            status: StatusCode::CONFLICT,
            reason: format!(
                "rules engine {:?} was watched without a file; watch it with rules_file(engine, path) to reload it",
                rules.engine.name()
            ),
        })?;
        Ok((rules.engine.clone(), file))
    })();
    let (engine, file) = match prepared {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let task_engine = engine.clone();
    // Reading and compiling a file: off the worker's event loop.
    let result = web::block(move || task_engine.reload_file(&file)).await;
    let (status, outcome) = match result {
        Ok(Ok(())) => (
            StatusCode::OK,
            json!({ "outcome": "reloaded", "rules_in_force": engine.rules_len() }),
        ),
        Ok(Err(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "outcome": "refused", "error": e.to_string(), "rules_in_force": engine.rules_len() }),
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "outcome": "failed", "error": "the reload task did not finish" }),
        ),
    };
    announced(&state, status, "reload", ("rules", engine.name()), outcome)
}

/// `POST /api/pools/{name}/recycle`: replaces every connection of a
/// watched pool without stopping it (see `Switchboard::recycle`): idle
/// ones close now, lent ones when they come back (`Closing { reason:
/// recycled }` on the stream), and no caller fails for it.
pub(crate) async fn recycle(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let found = (|| -> Result<_, ApiError> {
        authorize(&req, &state.config, Need::Act)?;
        let watched = super::api::watched(&state, &name)?;
        Ok((watched.pool.clone(), watched.name.clone()))
    })();
    let (pool, pool_name) = match found {
        Ok(found) => found,
        Err(e) => return e.response(),
    };
    let (status, outcome) = match pool.recycle().await {
        Ok(()) => (StatusCode::OK, json!({ "outcome": "recycling" })),
        Err(e) => (
            StatusCode::CONFLICT,
            json!({ "outcome": "refused", "error": e.to_string() }),
        ),
    };
    tracing::info!(target: "switchboard::console", pool = &*pool_name, "pool recycle requested from the console");
    announced(&state, status, "recycle", ("pool", &pool_name), outcome)
}

/// `POST /api/audit/{name}/verify`: verifies a watched audit log's files
/// now (on a blocking thread: it reads every file), keeps the outcome for
/// `GET /api/audit` and puts it on the stream. 200 when the log verifies,
/// 409 with the finding when it does not.
pub(crate) async fn verify_audit(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<State>,
) -> HttpResponse {
    let found = (|| -> Result<_, ApiError> {
        authorize(&req, &state.config, Need::Act)?;
        state.audit(&name).cloned().ok_or_else(|| {
            let watched: Vec<&str> = state.audits.iter().map(|a| a.monitor.name()).collect();
            ApiError::NotFound(format!(
                "no audit log named {name:?} is watched by this console; watched: {}",
                watched.join(", ")
            ))
        })
    })();
    let audit = match found {
        Ok(audit) => audit,
        Err(e) => return e.response(),
    };
    let log = audit.monitor.name().to_owned();
    let (status, outcome) = match web::block(move || audit.verify()).await {
        Ok(v) if v.ok => (
            StatusCode::OK,
            json!({ "outcome": "verified", "verify": v }),
        ),
        Ok(v) => (
            StatusCode::CONFLICT,
            json!({ "outcome": "failed", "verify": v }),
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "outcome": "failed", "error": "the verification task did not finish" }),
        ),
    };
    announced(&state, status, "verify", ("audit", &log), outcome)
}
