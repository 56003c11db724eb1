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

/// The thresholds and the centers' working time, by client.
#[derive(Debug, Clone)]
pub struct SignalRules {
    pub settings: SignalsSettings,
    pub zone: jiff::tz::TimeZone,
    pub hours: Vec<(String, WorkingTime)>,
}

/// A center's working time: minutes after local midnight it starts and
/// ends (past midnight when the end is earlier), and the days it starts
/// on, Sunday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkingTime {
    pub start: u32,
    pub end: u32,
    pub days: [bool; 7],
}

impl SignalRules {
    /// The rules of a checked configuration (an unknown time zone, which
    /// `check-config` refuses, reads as UTC).
    pub fn new(settings: &SignalsSettings, clients: &[crate::config::ClientConfig]) -> SignalRules {
        let hours = clients
            .iter()
            .filter_map(|c| {
                let (start, end) = crate::config::parse_working_hours(c.working_hours.as_deref()?)?;
                let days = crate::config::parse_working_days(c.working_days.as_deref())?;
                Some((c.client_id.clone(), WorkingTime { start, end, days }))
            })
            .collect();
        SignalRules { settings: settings.clone(), zone: settings.zone().unwrap_or(jiff::tz::TimeZone::UTC), hours }
    }

    /// The working intervals `[start, end)` of `working` that meet
    /// `[from, to)`, as RFC 3339 UTC in the log's own form (so that text
    /// order is time order). Each local start and end is placed by the time
    /// zone's rules of that day: a time that a change of clock skips is
    /// read after the change, one that it repeats is its first occurrence.
    pub fn working_intervals(&self, working: &WorkingTime, from: &str, to: &str) -> Vec<(String, String)> {
        let parse = |s: &str| s.parse::<jiff::Timestamp>().ok();
        let (Some(from), Some(to)) = (parse(from), parse(to)) else { return Vec::new() };
        let local = |date: jiff::civil::Date, minutes: u32| {
            let at = date.at((minutes / 60) as i8, (minutes % 60) as i8, 0, 0);
            self.zone.to_ambiguous_zoned_datetime(at).compatible().ok().map(|z| z.timestamp())
        };
        let mut intervals = Vec::new();
        // From the day before `from` (a shift begun then may run past midnight).
        let Ok(mut date) = from.to_zoned_datetime(self.zone.clone()).date().yesterday() else { return intervals };
        let last = to.to_zoned_datetime(self.zone.clone()).date();
        while date <= last {
            if working.days[date.weekday().to_sunday_zero_offset() as usize] {
                let end_date = if working.end > working.start { Some(date) } else { date.tomorrow().ok() };
                if let (Some(a), Some(b)) = (local(date, working.start), end_date.and_then(|d| local(d, working.end)))
                    && a < to
                    && b > from
                {
                    intervals.push((rfc3339(a), rfc3339(b)));
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        intervals
    }
}

/// A whole-second instant as the audit log writes times.
fn rfc3339(t: jiff::Timestamp) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(t.as_second()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    super::format_rfc3339(at)
}

/// The median of `values` (the lower middle for an even count).
fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// Reads of the store a signals search runs at once: each is a scan of the
/// window, so two keep both cores of a small machine busy while leaving the
/// pool's other connections to the request path.
const PARALLEL_READS: usize = 2;

/// Every signal of `[from, to)`.
pub async fn find(store: &Store, rules: &SignalRules, from: &str, to: &str) -> Result<Vec<Signal>, StoreError> {
    use futures::{StreamExt, TryStreamExt};
    let s = &rules.settings;
    // The reads of groups, in the contract's order of kinds: (kind,
    // condition, least count, most groups).
    let mut reads: Vec<(SignalKind, SignalSql, i64, i64)> = vec![
        (SignalKind::ClaimGuessing, SignalSql::ClaimGuessing, s.claim_guessing_min_mismatches, MAX_SIGNALS_PER_KIND),
        (SignalKind::NoCaseRef, SignalSql::NoCaseRef, s.no_case_ref_min_calls, MAX_SIGNALS_PER_KIND),
    ];
    // One read per working time, for every client that keeps it (most centers keep the same hours).
    let mut by_time: BTreeMap<WorkingTime, Vec<String>> = BTreeMap::new();
    for (client_id, working) in &rules.hours {
        by_time.entry(*working).or_default().push(client_id.clone());
    }
    for (working, client_ids) in by_time {
        let intervals = rules.working_intervals(&working, from, to);
        // Bound values stay far below what either store takes in one statement.
        for chunk in client_ids.chunks(500) {
            let sql = SignalSql::OffHours { client_ids: chunk.to_vec(), working: intervals.clone() };
            reads.push((SignalKind::OffHours, sql, s.off_hours_min_calls, MAX_SIGNALS_PER_KIND));
        }
    }
    // many_subjects: every operator, against the median of the operator's center (below).
    reads.push((SignalKind::ManySubjects, SignalSql::ManySubjects, 1, MAX_OPERATORS));
    reads.push((SignalKind::ManyCenters, SignalSql::ManyCenters, s.many_centers_min, MAX_SIGNALS_PER_KIND));
    let groups: Vec<Vec<SignalGroup>> = futures::stream::iter(&reads)
        .map(|(_, sql, min, limit)| store.signal_groups(sql, from, to, *min, *limit))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    let mut found: Vec<(SignalKind, SignalSql, Vec<SignalGroup>)> = Vec::with_capacity(reads.len());
    for ((kind, sql, _, _), groups) in reads.into_iter().zip(groups) {
        let groups = if kind == SignalKind::ManySubjects { many_subjects(s, groups) } else { groups };
        if !groups.is_empty() {
            found.push((kind, sql, groups));
        }
    }

    // The groups' first events, one read per kind (and per off-hours read).
    let event_ids: Vec<Vec<Vec<String>>> = futures::stream::iter(&found)
        .map(|(_, sql, groups)| store.signal_event_ids(sql, from, to, groups))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    let mut signals = Vec::new();
    for ((kind, _, groups), event_ids) in found.into_iter().zip(event_ids) {
        for (g, event_ids) in groups.into_iter().zip(event_ids) {
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
    }
    Ok(signals)
}

/// The operators whose distinct citizens reach the threshold and the
/// factor times their center's median, the most first.
fn many_subjects(s: &SignalsSettings, operators: Vec<SignalGroup>) -> Vec<SignalGroup> {
    let mut per_center: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
    for g in &operators {
        per_center.entry(g.center_id.clone()).or_default().push(g.distinct);
    }
    let medians: BTreeMap<Option<String>, i64> = per_center.into_iter().map(|(c, mut v)| (c, median(&mut v))).collect();
    operators
        .into_iter()
        .filter(|g| {
            let median = medians.get(&g.center_id).copied().unwrap_or(0) as f64;
            g.distinct >= s.many_subjects_min && g.distinct as f64 >= s.many_subjects_factor * median
        })
        .take(MAX_SIGNALS_PER_KIND as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: [bool; 7] = crate::config::EGYPT_WORKING_WEEK;

    fn rules(zone: &str) -> SignalRules {
        let settings = crate::config::Settings::load_from(None, &[]).unwrap().signals;
        let settings = SignalsSettings { time_zone: zone.to_owned(), ..settings };
        SignalRules { zone: settings.zone().unwrap(), settings, hours: vec![] }
    }

    fn hours(start: &str, end: &str) -> WorkingTime {
        let minutes = |t: &str| t[..2].parse::<u32>().unwrap() * 60 + t[3..].parse::<u32>().unwrap();
        WorkingTime { start: minutes(start), end: minutes(end), days: WEEK }
    }

    fn spans(r: &SignalRules, w: WorkingTime, from: &str, to: &str) -> Vec<(String, String)> {
        r.working_intervals(&w, from, to)
            .into_iter()
            .map(|(a, b)| (a.replace(":00.000000Z", "Z"), b.replace(":00.000000Z", "Z")))
            .collect()
    }

    #[test]
    fn working_days_are_sunday_to_thursday_in_cairo_time_with_its_summer_time() {
        let cairo = rules("Africa/Cairo");
        // 2024: summer time began on Friday 26 April at midnight (UTC+2 to UTC+3).
        // Thursday 25th, the weekend skipped, Sunday 28th.
        assert_eq!(
            spans(&cairo, hours("08:00", "15:00"), "2024-04-25T00:00:00Z", "2024-04-29T00:00:00Z"),
            [
                ("2024-04-25T06:00Z".to_owned(), "2024-04-25T13:00Z".to_owned()),
                ("2024-04-28T05:00Z".to_owned(), "2024-04-28T12:00Z".to_owned()),
            ]
        );
        // Back to UTC+2 after Thursday 31 October 2024.
        assert_eq!(
            spans(&cairo, hours("08:00", "15:00"), "2024-11-03T00:00:00Z", "2024-11-04T00:00:00Z"),
            [("2024-11-03T06:00Z".to_owned(), "2024-11-03T13:00Z".to_owned())]
        );
    }

    #[test]
    fn a_shift_past_midnight_and_other_working_days() {
        let utc = rules("UTC");
        // Saturday night to Sunday morning, begun on the day before the window.
        let night = WorkingTime { days: [false, false, false, false, false, false, true], ..hours("22:00", "06:00") };
        assert_eq!(
            spans(&utc, night, "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z"),
            [("2026-11-28T22:00Z".to_owned(), "2026-11-29T06:00Z".to_owned())]
        );
        // A window on a day off holds no working time.
        assert_eq!(
            spans(&rules("Africa/Cairo"), hours("08:00", "15:00"), "2026-12-04T00:00:00Z", "2026-12-05T00:00:00Z"),
            []
        );
        assert_eq!(spans(&utc, hours("08:00", "15:00"), "not a time", "2026-12-05T00:00:00Z"), []);
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut []), 0);
    }
}
