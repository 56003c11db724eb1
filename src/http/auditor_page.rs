//! `GET /audit`: the auditors' page (Arabic first, right to left, with an
//! English switch), its script and its style sheet. The files are embedded in
//! the binary, so a gateway needs no static directory and loads nothing from
//! outside: no CDN, no web font.
//!
//! The page holds no inline script, style or event handler, so it is served
//! under a strict Content-Security-Policy: only this origin may run code, load
//! styles or be called, and no other site may frame it.

use super::embedded_page::EmbeddedPage;
use actix_web::web;

const INDEX_HTML: &str = include_str!("../../static/audit/index.html");
const APP_JS: &str = include_str!("../../static/audit/app.js");
const STYLE_CSS: &str = include_str!("../../static/audit/style.css");
/// The inspectors' views (CONTRACT §13): centers and signals.
const INSPECT_JS: &str = include_str!("../../static/audit/inspect.js");

/// `img-src data:` is for the empty favicon, which spares a 404 on every load.
/// `form-action 'none'`: the sign-in form is only ever handled by the script,
/// so if the script fails the browser cannot submit the secret in a URL.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// No caching: the page shows audit data and a counter PC is shared.
static PAGE: EmbeddedPage = EmbeddedPage {
    path: "/audit",
    html: INDEX_HTML,
    js: APP_JS,
    css: STYLE_CSS,
    content_security_policy: CONTENT_SECURITY_POLICY,
    cache_control: "no-store",
    extra_headers: &[],
};

/// The page's routes: `/audit`, `/audit/app.js`, `/audit/inspect.js`, `/audit/style.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    PAGE.configure(cfg);
    cfg.route(
        "/audit/inspect.js",
        web::get().to(|| async { PAGE.answer("text/javascript; charset=utf-8", INSPECT_JS) }),
    );
}
