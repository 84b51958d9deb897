//! The HTTP side: routes, and the headers every response carries.
//!
//! | Route | |
//! |---|---|
//! | `GET /` , `/console.js`, `/audit.js`, `/console.css` | the page |
//! | `GET /api/console` | what the console watches, may do, and its counters |
//! | `GET /api/pools` | every watched pool's `PoolStatus` |
//! | `GET /api/pools/{name}` | one pool's `PoolStatus` |
//! | `GET /api/pools/{name}/activity` | per-second counts, denials, slowest statements, leaks |
//! | `GET /api/events` | the event stream (Server-Sent Events) |
//! | `POST /api/rules/{name}/read-only` | `{"on": bool}`: switch read-only mode (actions token) |
//! | `POST /api/rules/{name}/reload` | reload the rules file (actions token) |
//! | `POST /api/pools/{name}/recycle` | replace a pool's connections (actions token) |
//! | `GET /api/audit` | each watched audit log's counters and last verification |
//! | `POST /api/audit/{name}/verify` | verify an audit log now (actions token) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /healthz` | 200, or 503 when a watched pool stopped |

mod actions;
mod api;
mod auth;
mod error;
mod events;
mod page;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};

use error::ApiError;

/// The page may load only its own script and style, talk only to this
/// origin, and be framed by no one: data shown on it (SQL, labels) can
/// never run as code, even if the script had a flaw.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Mounts the console's routes on `cfg`, sharing `state`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, state: web::Data<crate::state::State>) {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"));
    cfg.app_data(state).service(
        web::scope("")
            .wrap(headers)
            .route("/", web::get().to(page::index))
            .route("/console.js", web::get().to(page::script))
            .route("/audit.js", web::get().to(page::audit_script))
            .route("/console.css", web::get().to(page::style))
            .route("/favicon.ico", web::get().to(page::no_icon))
            .route("/healthz", web::get().to(api::healthz))
            .route("/metrics", web::get().to(api::metrics))
            .route("/api/console", web::get().to(api::console))
            .route("/api/pools", web::get().to(api::pools))
            .route("/api/pools/{name}", web::get().to(api::pool))
            .route("/api/pools/{name}/activity", web::get().to(api::activity))
            .route("/api/audit", web::get().to(api::audit))
            .route(
                "/api/audit/{name}/verify",
                web::post().to(actions::verify_audit),
            )
            .route("/api/events", web::get().to(events::events))
            .route(
                "/api/rules/{name}/read-only",
                web::post().to(actions::read_only),
            )
            .route("/api/rules/{name}/reload", web::post().to(actions::reload))
            .route(
                "/api/pools/{name}/recycle",
                web::post().to(actions::recycle),
            )
            .default_service(web::to(not_found)),
    );
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!(
        "nothing at {} {}; see GET /api/console",
        req.method(),
        req.path()
    ))
    .response()
}
