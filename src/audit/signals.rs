//! Leads for inspectors (CONTRACT §13): accesses worth a review, found in
//! the audit log over a window. Rules alone catch little and flag innocent
//! accesses too, so a signal is a lead to review, never a verdict; each lists
//! its first events (at most 100) for `/v1/audit/events`.

use crate::config::SignalsSettings;
use crate::store::{SignalGroup, SignalSql, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// Most groups of one kind (the largest first).
const MAX_SIGNALS_PER_KIND: i64 = 200;
/// Operators counted for a center's median (`many_subjects`).
const MAX_OPERATORS: i64 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    ClaimGuessing,
    NoCaseRef,
    OffHours,
    ManySubjects,
    ManyCenters,
}

/// One lead.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Signal {
    pub kind: SignalKind,
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Calls (`claim_guessing`, `no_case_ref`, `off_hours`), distinct
    /// citizens (`many_subjects`) or distinct centers (`many_centers`).
    pub count: i64,
    pub first_at: String,
    pub last_at: String,
    /// The first events, in chain order (at most 100).
    pub event_ids: Vec<String>,
}

/// The thresholds and the centers' working hours (minutes after local
/// midnight, by client).
#[derive(Debug, Clone)]
pub struct SignalRules {
    pub settings: SignalsSettings,
    pub hours: Vec<(String, u32, u32)>,
}

impl SignalRules {
    pub fn new(settings: &SignalsSettings, clients: &[crate::config::ClientConfig]) -> SignalRules {
        let hours = clients
            .iter()
            .filter_map(|c| {
                let (start, end) = crate::config::parse_working_hours(c.working_hours.as_deref()?)?;
                Some((c.client_id.clone(), start, end))
            })
            .collect();
        SignalRules { settings: settings.clone(), hours }
    }

    /// Local minutes after midnight as UTC `HH:MM`.
    fn utc(&self, local: u32) -> String {
        let m = (local as i32 - self.settings.working_hours_utc_offset_minutes).rem_euclid(24 * 60);
        format!("{:02}:{:02}", m / 60, m % 60)
    }
}

/// The median of `values` (the lower middle for an even count).
fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// Every signal of `[from, to)`, kind by kind.
pub async fn find(store: &Store, rules: &SignalRules, from: &str, to: &str) -> Result<Vec<Signal>, StoreError> {
    let s = &rules.settings;
    let mut found: Vec<(SignalKind, SignalSql, SignalGroup)> = Vec::new();
    for (kind, sql, min) in [
        (SignalKind::ClaimGuessing, SignalSql::ClaimGuessing, s.claim_guessing_min_mismatches),
        (SignalKind::NoCaseRef, SignalSql::NoCaseRef, s.no_case_ref_min_calls),
    ] {
        for g in store.signal_groups(&sql, from, to, min, MAX_SIGNALS_PER_KIND).await? {
            found.push((kind, sql.clone(), g));
        }
    }
    for (client_id, start, end) in &rules.hours {
        let sql = SignalSql::OffHours { client_id: client_id.clone(), start: rules.utc(*start), end: rules.utc(*end) };
        for g in store.signal_groups(&sql, from, to, s.off_hours_min_calls, MAX_SIGNALS_PER_KIND).await? {
            found.push((SignalKind::OffHours, sql.clone(), g));
        }
    }
    // many_subjects: against the median of the operator's center.
    let operators = store.signal_groups(&SignalSql::ManySubjects, from, to, 1, MAX_OPERATORS).await?;
    let mut per_center: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
    for g in &operators {
        per_center.entry(g.center_id.clone()).or_default().push(g.distinct);
    }
    let medians: BTreeMap<Option<String>, i64> = per_center.into_iter().map(|(c, mut v)| (c, median(&mut v))).collect();
    let many: Vec<SignalGroup> = operators
        .into_iter()
        .filter(|g| {
            let median = medians.get(&g.center_id).copied().unwrap_or(0) as f64;
            g.distinct >= s.many_subjects_min && g.distinct as f64 >= s.many_subjects_factor * median
        })
        .take(MAX_SIGNALS_PER_KIND as usize)
        .collect();
    found.extend(many.into_iter().map(|g| (SignalKind::ManySubjects, SignalSql::ManySubjects, g)));
    for g in store.signal_groups(&SignalSql::ManyCenters, from, to, s.many_centers_min, MAX_SIGNALS_PER_KIND).await? {
        found.push((SignalKind::ManyCenters, SignalSql::ManyCenters, g));
    }

    let mut signals = Vec::with_capacity(found.len());
    for (kind, sql, g) in found {
        let event_ids = store.signal_event_ids(&sql, from, to, &g).await?;
        let count = match kind {
            SignalKind::ManySubjects | SignalKind::ManyCenters => g.distinct,
            _ => g.count,
        };
        signals.push(Signal {
            kind,
            client_id: g.client_id,
            center_id: g.center_id,
            operator_id: g.operator_id,
            subject: g.subject,
            count,
            first_at: g.first_at,
            last_at: g.last_at,
            event_ids,
        });
    }
    Ok(signals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(offset: i32) -> SignalRules {
        let settings = crate::config::Settings::load_from(None, &[]).unwrap().signals;
        SignalRules {
            settings: SignalsSettings { working_hours_utc_offset_minutes: offset, ..settings },
            hours: vec![],
        }
    }

    #[test]
    fn local_hours_become_utc_times_of_day() {
        assert_eq!(rules(120).utc(8 * 60), "06:00");
        assert_eq!(rules(120).utc(60), "23:00");
        assert_eq!(rules(-90).utc(23 * 60), "00:30");
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut []), 0);
    }
}
