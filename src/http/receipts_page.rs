//! `GET /receipts`: the page where anyone scans or pastes a receipt's code
//! and sees whether it is genuine and what it says (Arabic first, English on
//! a switch). Like the auditors' page, its files are embedded and it loads
//! nothing from outside, under a strict Content-Security-Policy; the camera
//! (the browser's `BarcodeDetector`) is allowed for this origin only.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("../../static/receipts/index.html");
const APP_JS: &str = include_str!("../../static/receipts/app.js");
const STYLE_CSS: &str = include_str!("../../static/receipts/style.css");

/// `img-src data: blob:`: the empty favicon and a chosen photo of a QR.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; script-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/receipts", web::get().to(page))
        .route("/receipts/app.js", web::get().to(app_js))
        .route("/receipts/style.css", web::get().to(style_css));
}

async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// The page shows nothing personal, so it may be cached briefly.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .insert_header(("Permissions-Policy", HeaderValue::from_static("camera=(self)")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .body(body)
}
