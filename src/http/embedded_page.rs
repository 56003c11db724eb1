//! A page whose three files (HTML, script, style sheet) are embedded in the
//! binary: a gateway needs no static directory and its pages load nothing
//! from outside (no CDN, no web font). Every file gets the page's
//! Content-Security-Policy, no MIME sniffing (a script is run only as a
//! script), no referrer, and the page's own caching and extra headers.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

pub struct EmbeddedPage {
    /// `/audit`: the page; `/audit/app.js` and `/audit/style.css` beside it.
    pub path: &'static str,
    pub html: &'static str,
    pub js: &'static str,
    pub css: &'static str,
    pub content_security_policy: &'static str,
    pub cache_control: &'static str,
    /// Any further header, such as a Permissions-Policy.
    pub extra_headers: &'static [(&'static str, &'static str)],
}

impl EmbeddedPage {
    /// The page's routes; other methods on the page are 405 with `Allow: GET`.
    pub fn configure(&'static self, cfg: &mut web::ServiceConfig) {
        let file = move |content_type: &'static str, body: &'static str| {
            web::get().to(move || async move { self.answer(content_type, body) })
        };
        cfg.service(super::only(self.path, "GET").route(file("text/html; charset=utf-8", self.html)))
            .route(&format!("{}/app.js", self.path), file("text/javascript; charset=utf-8", self.js))
            .route(&format!("{}/style.css", self.path), file("text/css; charset=utf-8", self.css));
    }

    /// One file of the page, with the page's headers.
    pub fn answer(&self, content_type: &'static str, body: &'static str) -> HttpResponse {
        let mut answer = HttpResponse::Ok();
        answer
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
            .insert_header((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(self.content_security_policy)))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(self.cache_control)))
            .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));
        for (name, value) in self.extra_headers {
            answer.insert_header((*name, HeaderValue::from_static(value)));
        }
        answer.body(body)
    }
}
