//! The outermost middleware: gives every request its id (a UUIDv7, which on
//! `/v1` is also the audit event id), sets `X-Request-Id`, renders problems
//! with that id in the caller's language, and counts requests.

use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::metrics::Metrics;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::sync::Arc;
use std::time::Instant;

/// Per-request facts every layer may read.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub id: String,
    pub arabic: bool,
    pub started: Instant,
}

/// Whether the caller prefers Arabic (`Accept-Language: ar…` ranked above English).
pub fn prefers_arabic(accept_language: Option<&str>) -> bool {
    let Some(value) = accept_language else { return false };
    let mut best: Option<(f32, bool)> = None;
    for part in value.split(',') {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let arabic = tag == "ar" || tag.starts_with("ar-");
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, arabic));
        }
    }
    best.is_some_and(|(q, arabic)| arabic && q > 0.0)
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let ctx = RequestContext {
        id: uuid::Uuid::now_v7().to_string(),
        arabic: prefers_arabic(req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())),
        started: Instant::now(),
    };
    req.extensions_mut().insert(ctx.clone());
    let metrics = req.app_data::<web::Data<Arc<Metrics>>>().cloned();
    let res = next.call(req).await?.map_into_boxed_body();
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    // actix answers a known path with an unrouted method by a bare 405.
    let problem = res.response().extensions().get::<Problem>().cloned().or_else(|| {
        (res.status() == actix_web::http::StatusCode::METHOD_NOT_ALLOWED).then_some(Problem(ApiError::MethodNotAllowed))
    });
    let mut res = match problem {
        Some(problem) => {
            let body = serde_json::to_vec(&problem.body(&ctx.id, ctx.arabic)).unwrap_or_default();
            res.map_body(|head, _| {
                head.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
                BoxBody::new(body)
            })
        }
        None => res,
    };
    if let Ok(v) = HeaderValue::from_str(&ctx.id) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), v);
    }
    if let Some(m) = metrics {
        m.http_requests.with_label_values(&[&route, res.status().as_str()]).inc();
        m.http_duration.with_label_values(&[&route]).observe(ctx.started.elapsed().as_secs_f64());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::prefers_arabic;

    #[test]
    fn arabic_is_chosen_when_ranked_first() {
        assert!(prefers_arabic(Some("ar")));
        assert!(prefers_arabic(Some("ar-EG,en;q=0.8")));
        assert!(!prefers_arabic(Some("en,ar;q=0.5")));
        assert!(!prefers_arabic(None));
        assert!(prefers_arabic(Some("en;q=0.3, ar-EG;q=0.9")));
    }
}
