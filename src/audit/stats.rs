//! Statistics of the audit log for inspectors (CONTRACT §13): per group
//! (center, operator, client, action, day, or up to three of them), the calls
//! per outcome, the mismatch share of verifications, the cache hit and stale
//! shares, and p50/p95 of `duration_ms`. The store counts events per group,
//! outcome, cache use and duration bucket (from its summary table, see
//! `store::audit_summary`, or from the events themselves); this module folds
//! those cells into rows.

use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many groupings in one query.
pub const MAX_GROUPINGS: usize = 3;
/// The longest window one query may cover (bounded work on a large log).
pub const MAX_WINDOW_DAYS: i64 = 92;
/// The window when `from` is not given: this many days before `to`.
pub const DEFAULT_WINDOW_DAYS: i64 = 31;

/// The upper bounds (inclusive, in ms) of the duration buckets the
/// percentiles are read from; a last bucket holds what is slower than the
/// last bound. A percentile is its bucket's bound, or the group's slowest
/// call when that is lower (so it never exceeds a duration really seen).
pub const BUCKET_BOUNDS_MS: [i64; 11] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];
/// Buckets a cell carries: one per bound and the one above the last.
pub const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// The bucket of a duration.
pub fn bucket_of(duration_ms: i64) -> usize {
    BUCKET_BOUNDS_MS.iter().position(|b| duration_ms <= *b).unwrap_or(BUCKET_BOUNDS_MS.len())
}

/// What a row is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Center,
    Operator,
    Client,
    Action,
    Day,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [GroupBy::Center, GroupBy::Operator, GroupBy::Client, GroupBy::Action, GroupBy::Day];

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The name in `group_by`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Center => "center",
            GroupBy::Operator => "operator",
            GroupBy::Client => "client",
            GroupBy::Action => "action",
            GroupBy::Day => "day",
        }
    }

    /// The key of the row's `group` object.
    pub fn key(self) -> &'static str {
        match self {
            GroupBy::Center => "center_id",
            GroupBy::Operator => "operator_id",
            GroupBy::Client => "client_id",
            GroupBy::Action => "action",
            GroupBy::Day => "day",
        }
    }

    /// The SQL expression (a constant; values are always bound).
    pub fn sql(self) -> &'static str {
        match self {
            GroupBy::Center => "center_id",
            GroupBy::Operator => "operator_id",
            GroupBy::Client => "client_id",
            GroupBy::Action => "action",
            GroupBy::Day => "substr(at, 1, 10)",
        }
    }
}

/// Events of one group with one outcome and cache use: how many, how many in
/// each duration bucket, and the slowest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsCell {
    pub keys: Vec<Option<String>>,
    pub outcome: String,
    pub cache: String,
    pub count: i64,
    pub buckets: [i64; BUCKETS],
    pub max_ms: i64,
}

/// One row of `/v1/audit/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatsRow {
    /// The group's values, by the keys of `group_by` (`center_id`, `operator_id`,
    /// `client_id`, `action`, `day`); null where the events have none.
    #[schema(value_type = Object)]
    pub group: BTreeMap<String, Option<String>>,
    /// Every call of the group.
    pub total: i64,
    /// Calls per outcome (`match`, `mismatch`, `not_found`, `ok`, `forbidden`, …).
    pub outcomes: BTreeMap<String, i64>,
    /// Verifications: calls with outcome `match`, `mismatch` or `not_found`.
    pub verifications: i64,
    /// `mismatch` over verifications (null without verifications).
    pub mismatch_share: Option<f64>,
    /// Hits (and stale copies) over the calls that looked a registry record
    /// up (cache `hit`, `miss` or `stale`); null without lookups.
    pub cache_hit_share: Option<f64>,
    pub cache_stale_share: Option<f64>,
    /// Nearest-rank percentiles of `duration_ms`, bucketed: the upper bound
    /// of the bucket the rank falls in (bounds 1, 2, 5, 10, 20, 50, 100, 200,
    /// 500, 1000 and 5000 ms), or the group's slowest call if lower.
    pub duration_ms_p50: i64,
    pub duration_ms_p95: i64,
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// The nearest-rank `p` percentile of a bucketed histogram whose slowest
/// value is `max_ms`.
fn percentile(buckets: &[i64; BUCKETS], max_ms: i64, p: f64) -> i64 {
    let total: i64 = buckets.iter().sum();
    let rank = ((p * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (i, count) in buckets.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return BUCKET_BOUNDS_MS.get(i).map_or(max_ms, |b| (*b).min(max_ms));
        }
    }
    max_ms
}

/// Folds the store's cells into one row per group, groups in key order.
pub fn aggregate(group_by: &[GroupBy], cells: Vec<StatsCell>) -> Vec<StatsRow> {
    #[derive(Default)]
    struct Acc {
        outcomes: BTreeMap<String, i64>,
        hits: i64,
        stale: i64,
        lookups: i64,
        buckets: [i64; BUCKETS],
        max_ms: i64,
    }
    let mut groups: BTreeMap<Vec<Option<String>>, Acc> = BTreeMap::new();
    for cell in cells {
        let acc = groups.entry(cell.keys).or_default();
        *acc.outcomes.entry(cell.outcome).or_default() += cell.count;
        match cell.cache.as_str() {
            "hit" => acc.hits += cell.count,
            "stale" => acc.stale += cell.count,
            _ => {}
        }
        if cell.cache != "none" {
            acc.lookups += cell.count;
        }
        for (sum, n) in acc.buckets.iter_mut().zip(cell.buckets) {
            *sum += n;
        }
        acc.max_ms = acc.max_ms.max(cell.max_ms);
    }
    groups
        .into_iter()
        .map(|(keys, acc)| {
            let total: i64 = acc.outcomes.values().sum();
            let count = |o: &str| acc.outcomes.get(o).copied().unwrap_or(0);
            let verifications = count("match") + count("mismatch") + count("not_found");
            StatsRow {
                group: group_by.iter().map(|g| g.key().to_owned()).zip(keys).collect(),
                total,
                verifications,
                mismatch_share: share(count("mismatch"), verifications),
                cache_hit_share: share(acc.hits + acc.stale, acc.lookups),
                cache_stale_share: share(acc.stale, acc.lookups),
                duration_ms_p50: percentile(&acc.buckets, acc.max_ms, 0.50),
                duration_ms_p95: percentile(&acc.buckets, acc.max_ms, 0.95),
                outcomes: acc.outcomes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(center: &str, outcome: &str, cache: &str, duration_ms: i64, count: i64) -> StatsCell {
        let mut buckets = [0; BUCKETS];
        buckets[bucket_of(duration_ms)] = count;
        let keys = vec![Some(center.into())];
        StatsCell { keys, outcome: outcome.into(), cache: cache.into(), count, buckets, max_ms: duration_ms }
    }

    #[test]
    fn cells_fold_into_rows_with_shares_and_percentiles() {
        let rows = aggregate(
            &[GroupBy::Center],
            vec![
                cell("B", "match", "hit", 1, 6),
                cell("B", "mismatch", "miss", 30, 2),
                cell("B", "not_found", "stale", 2, 1),
                cell("B", "forbidden", "none", 0, 1),
                cell("A", "ok", "none", 5, 3),
            ],
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group["center_id"].as_deref(), Some("A"));
        assert_eq!(rows[0].mismatch_share, None);
        assert_eq!(rows[0].cache_hit_share, None);
        let b = &rows[1];
        assert_eq!((b.total, b.verifications), (10, 9));
        assert_eq!(b.mismatch_share, Some(0.2222));
        assert_eq!(b.cache_hit_share, Some(0.7778));
        assert_eq!(b.cache_stale_share, Some(0.1111));
        // Sorted durations: 0, 1×6, 2, 30, 30 → p50 is the 5th (bucket ≤ 1),
        // p95 the 10th (bucket 20–50, its bound capped by the slowest, 30).
        assert_eq!((b.duration_ms_p50, b.duration_ms_p95), (1, 30));
    }

    #[test]
    fn percentiles_are_bucket_bounds_never_above_the_slowest_call() {
        let rows = aggregate(
            &[GroupBy::Center],
            vec![
                cell("A", "match", "miss", 120, 90),
                cell("A", "match", "miss", 7000, 9),
                cell("A", "ok", "none", 0, 1),
            ],
        );
        // 1 at 0 ms, 90 at 120 ms (bucket 100–200), 9 at 7000 ms (above 5000).
        assert_eq!((rows[0].duration_ms_p50, rows[0].duration_ms_p95), (200, 7000));
        let rows = aggregate(&[GroupBy::Center], vec![cell("A", "ok", "none", 0, 4)]);
        assert_eq!((rows[0].duration_ms_p50, rows[0].duration_ms_p95), (0, 0));
    }

    #[test]
    fn buckets_hold_their_upper_bound() {
        assert_eq!([bucket_of(0), bucket_of(1), bucket_of(2), bucket_of(3)], [0, 0, 1, 2]);
        assert_eq!([bucket_of(5000), bucket_of(5001)], [10, 11]);
    }

    #[test]
    fn every_grouping_parses_by_its_name_only() {
        for g in GroupBy::ALL {
            assert_eq!(GroupBy::parse(g.as_str()), Some(g));
        }
        assert_eq!(GroupBy::parse("center_id"), None);
        assert_eq!(GroupBy::parse("center;"), None);
    }
}
