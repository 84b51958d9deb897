//! The page: one HTML document, its script and its style, embedded in the
//! binary. They hold no data (the script fetches it), so they are served
//! without a token.

use actix_web::HttpResponse;

const INDEX: &str = include_str!("../../assets/index.html");
const SCRIPT: &str = include_str!("../../assets/console.js");
const AUDIT_SCRIPT: &str = include_str!("../../assets/audit.js");
const STYLE: &str = include_str!("../../assets/console.css");

pub(crate) async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX)
}

pub(crate) async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(SCRIPT)
}

/// The audit section's script, apart from the page's main one.
pub(crate) async fn audit_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(AUDIT_SCRIPT)
}

pub(crate) async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(STYLE)
}

/// Browsers ask for an icon; there is none, and saying so without a 404
/// keeps their consoles free of errors.
pub(crate) async fn no_icon() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
