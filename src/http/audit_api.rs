//! `GET /v1/audit/events` and `GET /v1/audit/integrity` (scope `audit:read`).

use super::state::AppState;
use crate::audit::{Action, AuditEvent, AuditFilter, VerifyReport, format_rfc3339, verify_chain};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FILTERS: [&str; 8] = ["subject", "client_id", "center_id", "operator_id", "action", "outcome", "from", "to"];

/// A parsed query of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsQuery {
    pub filter: AuditFilter,
    pub limit: u32,
    pub before: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Continue below this sequence number.
    s: i64,
    /// Fingerprint of the query the cursor belongs to.
    q: String,
}

fn fingerprint(filter: &AuditFilter) -> String {
    let bytes = serde_json::to_vec(filter).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..8])
}

fn parse_time(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        Ok(t) => Some(format_rfc3339(t)),
        Err(_) => {
            errors.push(FieldError::new(field, "not an RFC 3339 time"));
            None
        }
    }
}

/// Parses the query string: only known parameters, each once, each well formed.
pub fn parse_query(query: &str, allow_format: bool) -> Result<(EventsQuery, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let mut filter = AuditFilter::default();
    let mut limit = 100u32;
    let mut cursor = None;
    let mut format = None;
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        if !seen.insert(k.clone()) {
            errors.push(FieldError::new(&k, "given more than once"));
            continue;
        }
        if v.chars().count() > 256 {
            errors.push(FieldError::new(&k, "too long"));
            continue;
        }
        match k.as_str() {
            "subject" => filter.subject = Some(crate::domain::digits::to_ascii_digits(v.trim())),
            "client_id" => filter.client_id = Some(v),
            "center_id" => filter.center_id = Some(v),
            "operator_id" => filter.operator_id = Some(v),
            "action" => match Action::parse(&v) {
                Some(_) => filter.action = Some(v),
                None => errors.push(FieldError::new("action", "unknown action")),
            },
            "outcome" => filter.outcome = Some(v),
            "from" => filter.from = parse_time("from", &v, &mut errors),
            "to" => filter.to = parse_time("to", &v, &mut errors),
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => limit = n,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 1000")),
            },
            "cursor" => cursor = Some(v),
            "format" if allow_format => match v.as_str() {
                "csv" | "ndjson" => format = Some(v),
                _ => errors.push(FieldError::new("format", "must be csv or ndjson")),
            },
            _ => errors.push(FieldError::new(&k, format!("unknown parameter; known: {}", FILTERS.join(", ")))),
        }
    }
    if let (Some(from), Some(to)) = (&filter.from, &filter.to)
        && from >= to
    {
        errors.push(FieldError::new("to", "must be after from"));
    }
    let before = match cursor {
        None => None,
        Some(c) => {
            let decoded =
                URL_SAFE_NO_PAD.decode(c.as_bytes()).ok().and_then(|b| serde_json::from_slice::<Cursor>(&b).ok());
            match decoded {
                None => {
                    errors.push(FieldError::new("cursor", "malformed"));
                    None
                }
                Some(c) if c.q != fingerprint(&filter) => {
                    errors.push(FieldError::new("cursor", "belongs to another query"));
                    None
                }
                Some(c) => Some(c.s),
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::InvalidRequest { detail: None, errors });
    }
    Ok((EventsQuery { filter, limit, before }, format))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/audit/events", tag = "audit",
    params(
        ("subject" = Option<String>, Query), ("client_id" = Option<String>, Query), ("center_id" = Option<String>, Query),
        ("operator_id" = Option<String>, Query), ("action" = Option<String>, Query), ("outcome" = Option<String>, Query),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, description = "1–1000, default 100"), ("cursor" = Option<String>, Query)
    ),
    responses((status = 200, body = EventsPage), (status = 400, body = crate::error::ProblemBody), (status = 403, body = crate::error::ProblemBody)),
    security(("bearer" = ["audit:read"]))
)]
pub async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (q, _) = parse_query(req.query_string(), false)?;
    let events = state.audit.store().query_events(&q.filter, q.before, q.limit).await?;
    let next_cursor = match events.last() {
        Some(last) if events.len() == q.limit as usize => {
            let c = Cursor { s: last.seq, q: fingerprint(&q.filter) };
            Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default()))
        }
        _ => None,
    };
    Ok(HttpResponse::Ok().json(EventsPage { events, next_cursor }))
}

#[utoipa::path(
    get, path = "/v1/audit/integrity", tag = "audit",
    responses((status = 200, body = VerifyReport)),
    security(("bearer" = ["audit:read"]))
)]
pub async fn integrity(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = verify_chain(state.audit.store()).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_outside_1_to_1000_is_refused() {
        assert!(parse_query("limit=0", false).is_err());
        assert!(parse_query("limit=1001", false).is_err());
        assert_eq!(parse_query("limit=1000", false).unwrap().0.limit, 1000);
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        let e = parse_query("subjekt=1", false).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "subjekt");
    }

    #[test]
    fn a_cursor_of_another_query_is_refused() {
        let c = Cursor { s: 10, q: fingerprint(&AuditFilter { subject: Some("1".into()), ..Default::default() }) };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert!(parse_query(&format!("subject=1&cursor={encoded}"), false).is_ok());
        let e = parse_query(&format!("subject=2&cursor={encoded}"), false).unwrap_err();
        assert_eq!(e.field_errors()[0].reason, "belongs to another query");
    }

    #[test]
    fn times_are_normalised_to_utc() {
        let (q, _) = parse_query("from=2026-11-22T12:00:00%2B02:00", false).unwrap();
        assert_eq!(q.filter.from.as_deref(), Some("2026-11-22T10:00:00.000000Z"));
    }
}
