//! `GET /receipts`: the page where anyone scans or pastes a receipt's code
//! and sees whether it is genuine and what it says (Arabic first, English on
//! a switch). Like the auditors' page, its files are embedded and it loads
//! nothing from outside, under a strict Content-Security-Policy; the camera
//! (the browser's `BarcodeDetector`) is allowed for this origin only.

use super::embedded_page::EmbeddedPage;
use actix_web::web;

const INDEX_HTML: &str = include_str!("../../static/receipts/index.html");
const APP_JS: &str = include_str!("../../static/receipts/app.js");
const STYLE_CSS: &str = include_str!("../../static/receipts/style.css");

/// `img-src data: blob:`: the empty favicon and a chosen photo of a QR.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; script-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The page shows nothing personal, so it may be cached briefly; the camera
/// is for this origin only.
static PAGE: EmbeddedPage = EmbeddedPage {
    path: "/receipts",
    html: INDEX_HTML,
    js: APP_JS,
    css: STYLE_CSS,
    content_security_policy: CONTENT_SECURITY_POLICY,
    cache_control: "public, max-age=300",
    extra_headers: &[("Permissions-Policy", "camera=(self)")],
};

/// The page's routes: `/receipts`, `/receipts/app.js`, `/receipts/style.css`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    PAGE.configure(cfg);
}
