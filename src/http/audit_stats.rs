//! `GET /v1/audit/stats` (scope `audit:read`, audited as `audit.query`):
//! the inspectors' statistics of CONTRACT §13, per center, operator, client,
//! action or day (up to three of them), over a bounded window.

use super::audit_api::{Allow, parse_query};
use super::state::AppState;
use crate::audit::stats::{DEFAULT_WINDOW_DAYS, GroupBy, MAX_GROUPINGS, MAX_WINDOW_DAYS, StatsRow, aggregate};
use crate::audit::{AuditFilter, format_rfc3339};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A parsed stats query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub group_by: Vec<GroupBy>,
    /// With `from` and `to` always set (defaults filled in).
    pub filter: AuditFilter,
}

fn parse_group_by(value: &str, errors: &mut Vec<FieldError>) -> Vec<GroupBy> {
    let mut groups = Vec::new();
    for name in value.split(',').map(str::trim) {
        match GroupBy::parse(name) {
            // A grouping named twice groups once.
            Some(g) if groups.contains(&g) => {}
            Some(g) => groups.push(g),
            None => {
                let known: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
                errors.push(FieldError::new("group_by", format!("unknown grouping; known: {}", known.join(", "))));
                return groups;
            }
        }
    }
    if groups.len() > MAX_GROUPINGS {
        errors.push(FieldError::new("group_by", format!("at most {MAX_GROUPINGS} groupings")));
    }
    groups
}

/// `group_by` and the filters of `/v1/audit/events`; the window defaults to
/// the last 31 days and may not exceed 92.
pub fn parse_stats_query(query: &str) -> Result<StatsQuery, ApiError> {
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    let mut group_by = None;
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "group_by" {
            if group_by.is_some() {
                errors.push(FieldError::new("group_by", "given more than once"));
            }
            group_by = Some(parse_group_by(&v, &mut errors));
        } else {
            rest.append_pair(&k, &v);
        }
    }
    let filters = parse_query(&rest.finish(), Allow::FiltersOnly);
    if group_by.is_none() {
        errors.push(FieldError::new("group_by", "required: center, operator, client, action or day (comma-separated)"));
    }
    let mut filter = match filters {
        Ok((q, _)) => q.filter,
        Err(e) => {
            errors.extend(e.field_errors());
            AuditFilter::default()
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::InvalidRequest { detail: None, errors });
    }
    bound_window(&mut filter)?;
    Ok(StatsQuery { group_by: group_by.unwrap_or_default(), filter })
}

/// Fills in the window's defaults (`to`: now; `from`: 31 days before) and
/// refuses one longer than 92 days: the work of a query stays bounded.
pub fn bound_window(filter: &mut AuditFilter) -> Result<(), ApiError> {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    let to = parse(&filter.to).unwrap_or_else(OffsetDateTime::now_utc);
    let from = parse(&filter.from).unwrap_or(to - time::Duration::days(DEFAULT_WINDOW_DAYS));
    if to - from > time::Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::InvalidRequest {
            detail: Some(format!(
                "The window from `from` to `to` is at most {MAX_WINDOW_DAYS} days; ask for several shorter windows."
            )),
            errors: vec![FieldError::new("from", format!("at most {MAX_WINDOW_DAYS} days before to"))],
        });
    }
    if from >= to {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    filter.from = Some(format_rfc3339(from));
    filter.to = Some(format_rfc3339(to));
    Ok(())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatsReport {
    pub group_by: Vec<String>,
    /// The window counted (RFC 3339; `from` inclusive, `to` exclusive).
    pub from: String,
    pub to: String,
    /// One row per group, in the order of the group values.
    pub rows: Vec<StatsRow>,
}

#[utoipa::path(
    get, path = "/v1/audit/stats", tag = "audit", operation_id = "audit_stats",
    description = "Inspectors' statistics (CONTRACT §13). `group_by`: one to three of center, operator, client, \
        action, day (comma-separated). The window defaults to the 31 days before `to` (default now) and may not \
        exceed 92 days. Unknown groupings and parameters are 400; a grouping named twice groups once. \
        Whole UTC days are read from a summary the store keeps in the events' own transactions, so \
        `duration_ms_p50`/`_p95` are bucketed: the upper bound of the bucket the rank falls in (1, 2, 5, 10, \
        20, 50, 100, 200, 500, 1000 or 5000 ms), or the group's slowest call when that is lower.",
    params(
        ("group_by" = String, Query, description = "e.g. `center` or `center,day`"),
        super::audit_api::FilterParams
    ),
    responses((status = 200, description = "One row per group", body = StatsReport)),
)]
pub async fn stats(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let q = parse_stats_query(req.query_string())?;
    let cells = state.audit.store().audit_stats(&q.group_by, &q.filter).await?;
    let rows = aggregate(&q.group_by, cells);
    Ok(HttpResponse::Ok().json(StatsReport {
        group_by: q.group_by.iter().map(|g| g.as_str().to_owned()).collect(),
        from: q.filter.from.clone().unwrap_or_default(),
        to: q.filter.to.clone().unwrap_or_default(),
        rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groupings_are_checked() {
        assert_eq!(parse_stats_query("group_by=center,day").unwrap().group_by, [GroupBy::Center, GroupBy::Day]);
        assert_eq!(parse_stats_query("group_by=center,center").unwrap().group_by, [GroupBy::Center]);
        assert!(parse_stats_query("group_by=center,day,action,client").is_err());
        assert!(parse_stats_query("group_by=centre").is_err());
        assert!(parse_stats_query("center_id=x").is_err());
    }

    #[test]
    fn the_window_is_bounded_and_defaults_to_a_month() {
        let q = parse_stats_query("group_by=day&to=2026-11-01T00:00:00Z").unwrap();
        assert_eq!(q.filter.from.as_deref(), Some("2026-10-01T00:00:00.000000Z"));
        assert!(parse_stats_query("group_by=day&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z").is_err());
        assert!(parse_stats_query("group_by=day&from=2026-01-01T00:00:00Z&to=2026-04-03T00:00:00Z").is_ok());
    }
}
