//! `GET /audit`: the auditors' page (Arabic first, right to left, with an
//! English switch), its script and its style sheet. The files are embedded in
//! the binary, so a gateway needs no static directory and loads nothing from
//! outside: no CDN, no web font.
//!
//! The page holds no inline script, style or event handler, so it is served
//! under a strict Content-Security-Policy: only this origin may run code, load
//! styles or be called, and no other site may frame it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("../../static/audit/index.html");
const APP_JS: &str = include_str!("../../static/audit/app.js");
const STYLE_CSS: &str = include_str!("../../static/audit/style.css");

/// `img-src data:` is for the empty favicon, which spares a 404 on every load.
/// `form-action 'none'`: the sign-in form is only ever handled by the script,
/// so if the script fails the browser cannot submit the secret in a URL.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The page's routes: `/audit`, `/audit/app.js`, `/audit/style.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::only("/audit", "GET").route(web::get().to(page)))
        .route("/audit/app.js", web::get().to(app_js))
        .route("/audit/style.css", web::get().to(style_css));
}

pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// Every file gets the same headers: the policy, no MIME sniffing (a script is
/// run only as a script), and no caching, since the page shows audit data and a
/// counter PC is shared.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .body(body)
}
