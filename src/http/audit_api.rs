//! `GET /v1/audit/events`, `/v1/audit/export`, `/v1/audit/volume` and
//! `/v1/audit/integrity` (scope `audit:read`).

use super::state::AppState;
use crate::audit::export::{self, Format};
use crate::audit::{Action, AuditEvent, AuditFilter, VerifyReport, format_rfc3339, verify_chain};
use crate::error::{ApiError, FieldError};
use crate::store::Page;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `limit` of `/v1/audit/events`: its bounds and its default.
pub const LIMIT_MAX: u32 = 1000;
pub const LIMIT_DEFAULT: u32 = 100;

/// The longest value of a query parameter, in characters.
pub const QUERY_VALUE_MAX_CHARS: usize = 256;

pub const FILTERS: [&str; 9] =
    ["subject", "client_id", "center_id", "governorate", "operator_id", "action", "outcome", "from", "to"];

/// The filters of the audit reads (CONTRACT §8) as the OpenAPI document
/// lists them; [`parse_query`] reads the query string itself.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    subject: Option<String>,
    client_id: Option<String>,
    center_id: Option<String>,
    /// The centers of one governorate: center IDs that begin with this code and a hyphen (`SHR`: `SHR-ZAG-01`, …)
    governorate: Option<String>,
    operator_id: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    /// RFC 3339, inclusive
    from: Option<String>,
    /// RFC 3339, exclusive
    to: Option<String>,
}

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

/// Which parameters besides the filters a query may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// `limit` and `cursor` (`/v1/audit/events`).
    Paging,
    /// `format` (`/v1/audit/export`).
    Format,
    /// Nothing else (`/v1/audit/volume`).
    FiltersOnly,
}

/// Parses the query string: only known parameters, each once, each well formed.
pub fn parse_query(query: &str, allow: Allow) -> Result<(EventsQuery, Option<Format>), ApiError> {
    let mut errors = Vec::new();
    let mut filter = AuditFilter::default();
    let mut limit = LIMIT_DEFAULT;
    let mut cursor = None;
    let mut format = None;
    let mut seen = std::collections::HashSet::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        if !seen.insert(k.clone()) {
            errors.push(FieldError::new(&k, "given more than once"));
            continue;
        }
        if v.chars().count() > QUERY_VALUE_MAX_CHARS {
            errors.push(FieldError::new(&k, "too long"));
            continue;
        }
        match k.as_str() {
            "subject" => filter.subject = Some(crate::domain::digits::to_ascii_digits(v.trim())),
            "client_id" => filter.client_id = Some(v),
            "center_id" => filter.center_id = Some(v),
            "governorate" if AuditFilter::is_governorate_code(&v) => filter.governorate = Some(v),
            "governorate" => errors.push(FieldError::new("governorate", AuditFilter::GOVERNORATE_REASON)),
            "operator_id" => filter.operator_id = Some(v),
            "action" => match Action::parse(&v) {
                Some(_) => filter.action = Some(v),
                None => errors.push(FieldError::new("action", "unknown action")),
            },
            "outcome" => filter.outcome = Some(v),
            "from" => filter.from = parse_time("from", &v, &mut errors),
            "to" => filter.to = parse_time("to", &v, &mut errors),
            "limit" | "cursor" if allow != Allow::Paging => {
                errors.push(FieldError::new(&k, "not a parameter of this endpoint"))
            }
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=LIMIT_MAX).contains(&n) => limit = n,
                _ => errors.push(FieldError::new("limit", "must be a whole number from 1 to 1000")),
            },
            "cursor" => cursor = Some(v),
            "format" if allow == Allow::Format => match Format::parse(&v) {
                Some(f) => format = Some(f),
                None => errors.push(FieldError::new("format", "must be csv or ndjson")),
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
    get, path = "/v1/audit/events", tag = "audit", operation_id = "query_audit_events",
    description = "Newest first. Unknown parameters, a parameter given twice, and `from` not before `to` are 400.",
    params(
        FilterParams,
        ("limit" = Option<u32>, Query, description = "Events per page"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page, with the same filters")
    ),
    responses((status = 200, description = "A page of events", body = EventsPage)),
)]
pub async fn events(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (q, _) = parse_query(req.query_string(), Allow::Paging)?;
    let events = state.audit.store().query_events(&q.filter, Page::NewestFirst { before: q.before }, q.limit).await?;
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
    get, path = "/v1/audit/integrity", tag = "audit", operation_id = "audit_integrity",
    responses((status = 200, description = "The hash chain re-computed", body = VerifyReport)),
)]
pub async fn integrity(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = verify_chain(state.audit.store(), &state.audit_keys).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit", operation_id = "export_audit_events",
    params(
        ("format" = String, Query, description = "`csv` (a header row, the event's fields in order) or `ndjson`"),
        FilterParams
    ),
    responses(
        (status = 200, description = "The matching events in chain order (oldest first), streamed", content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"bawaba-audit-YYYY-MM-DD.csv\"` (or `.ndjson`)"))),
    ),
)]
pub async fn export(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (q, format) = parse_query(req.query_string(), Allow::Format)?;
    let format = format.ok_or_else(|| ApiError::InvalidRequest {
        detail: None,
        errors: vec![FieldError::new("format", "required: csv or ndjson")],
    })?;
    // The first page is read before the answer starts (a store that cannot
    // answer gets a 503); a failure later aborts the response, so a cut
    // export never looks complete (the chunked body has no final chunk).
    let first = export::first_page(state.audit.store(), &q.filter).await?;
    let body = export::stream(state.audit.store().clone(), q.filter, format, first).map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "audit export aborted");
            actix_web::error::ErrorServiceUnavailable("store unavailable")
        })
    });
    let name =
        format!("bawaba-audit-{}.{}", &format_rfc3339(time::OffsetDateTime::now_utc())[..10], format.extension());
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DayVolume {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub count: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VolumeReport {
    pub days: Vec<DayVolume>,
}

#[utoipa::path(
    get, path = "/v1/audit/volume", tag = "audit", operation_id = "audit_volume",
    description = "Events per UTC day for the filters of /v1/audit/events (the auditor page's chart).",
    params(
        FilterParams
    ),
    responses((status = 200, description = "Events per UTC day", body = VolumeReport)),
)]
pub async fn volume(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (q, _) = parse_query(req.query_string(), Allow::FiltersOnly)?;
    let days = state.audit.store().daily_volume(&q.filter).await?;
    Ok(HttpResponse::Ok()
        .json(VolumeReport { days: days.into_iter().map(|(day, count)| DayVolume { day, count }).collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_outside_1_to_1000_is_refused() {
        assert!(parse_query("limit=0", Allow::Paging).is_err());
        assert!(parse_query("limit=1001", Allow::Paging).is_err());
        assert_eq!(parse_query("limit=1000", Allow::Paging).unwrap().0.limit, 1000);
    }

    #[test]
    fn an_unknown_parameter_is_refused() {
        let e = parse_query("subjekt=1", Allow::Paging).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "subjekt");
    }

    #[test]
    fn a_cursor_of_another_query_is_refused() {
        let c = Cursor { s: 10, q: fingerprint(&AuditFilter { subject: Some("1".into()), ..Default::default() }) };
        let encoded = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert!(parse_query(&format!("subject=1&cursor={encoded}"), Allow::Paging).is_ok());
        let e = parse_query(&format!("subject=2&cursor={encoded}"), Allow::Paging).unwrap_err();
        assert_eq!(e.field_errors()[0].reason, "belongs to another query");
    }

    #[test]
    fn times_are_normalised_to_utc() {
        let (q, _) = parse_query("from=2026-11-22T12:00:00%2B02:00", Allow::Paging).unwrap();
        assert_eq!(q.filter.from.as_deref(), Some("2026-11-22T10:00:00.000000Z"));
    }
}
