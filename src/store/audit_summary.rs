//! The audit summary: events counted per UTC day, center, client, operator,
//! action, outcome and cache use, with the duration buckets of
//! [`crate::audit::stats::BUCKET_BOUNDS_MS`] and the slowest call, so that
//! `/v1/audit/stats` over a month reads thousands of rows, not a million
//! events.
//!
//! The store keeps it in the transaction that writes the events, so a batch
//! cannot be counted without being in the log, nor twice. On PostgreSQL a
//! statement trigger does it, whichever path writes the events (the writers'
//! one statement per batch, the locked fallback): it aggregates the batch (a
//! transition table) and upserts one row per distinct key. SQLite has only
//! row triggers, one upsert per event, which cost a sixth of a commit; there
//! the appenders count the batch they insert ([`count_batch`]) and upsert
//! each key once ([`UPSERT_COUNTS`]) in its transaction (migration 10 drops
//! the row trigger of migration 8). On both, a trigger takes the archive's
//! deletes away.
//! Columns that may be null in the events are `''` here (the key of a
//! unique index cannot hold nulls); no center, client or operator ID is
//! empty.
//!
//! Its primary key leads with the day (a month of every center is one range);
//! an index on (center, day) serves one center's month. A read is planned by [`plan`]: the whole UTC days of the window from the
//! summary, the partial days at its ends from the events, and everything
//! from the events when a filter is one the summary cannot answer
//! (`subject`). Both give the same cells ([`StatsCell`]), bucketed alike.

use crate::audit::stats::{BUCKET_BOUNDS_MS, BUCKETS, GroupBy, StatsCell};
use crate::audit::{AuditFilter, format_rfc3339};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The table's columns (BIGINT is SQLite's INTEGER too).
macro_rules! table_columns {
    () => {
        r#"
    day          TEXT NOT NULL,
    center_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    operator_id  TEXT NOT NULL,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    cache        TEXT NOT NULL,
    n            BIGINT NOT NULL,
    max_ms       BIGINT NOT NULL,
    b0 BIGINT NOT NULL, b1 BIGINT NOT NULL, b2 BIGINT NOT NULL, b3 BIGINT NOT NULL, b4 BIGINT NOT NULL,
    b5 BIGINT NOT NULL, b6 BIGINT NOT NULL, b7 BIGINT NOT NULL, b8 BIGINT NOT NULL, b9 BIGINT NOT NULL,
    b10 BIGINT NOT NULL, b11 BIGINT NOT NULL,
    PRIMARY KEY (day, center_id, client_id, operator_id, action, outcome, cache)
"#
    };
}

macro_rules! summary_columns {
    () => {
        "day, center_id, client_id, operator_id, action, outcome, cache, n, max_ms, \
         b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11"
    };
}

/// A summary row per key of the events selected (GROUP BY 1, …, 7).
macro_rules! of_events {
    () => {
        "substr(at, 1, 10) AS day, COALESCE(center_id, '') AS center_id, COALESCE(client_id, '') AS client_id, \
         COALESCE(operator_id, '') AS operator_id, action, outcome, cache, COUNT(*) AS n, MAX(duration_ms) AS max_ms, \
         SUM(CASE WHEN duration_ms <= 1 THEN 1 ELSE 0 END) AS b0, SUM(CASE WHEN duration_ms > 1 AND duration_ms <= 2 THEN 1 ELSE 0 END) AS b1, SUM(CASE WHEN duration_ms > 2 AND duration_ms <= 5 THEN 1 ELSE 0 END) AS b2, SUM(CASE WHEN duration_ms > 5 AND duration_ms <= 10 THEN 1 ELSE 0 END) AS b3, SUM(CASE WHEN duration_ms > 10 AND duration_ms <= 20 THEN 1 ELSE 0 END) AS b4, SUM(CASE WHEN duration_ms > 20 AND duration_ms <= 50 THEN 1 ELSE 0 END) AS b5, SUM(CASE WHEN duration_ms > 50 AND duration_ms <= 100 THEN 1 ELSE 0 END) AS b6, SUM(CASE WHEN duration_ms > 100 AND duration_ms <= 200 THEN 1 ELSE 0 END) AS b7, SUM(CASE WHEN duration_ms > 200 AND duration_ms <= 500 THEN 1 ELSE 0 END) AS b8, SUM(CASE WHEN duration_ms > 500 AND duration_ms <= 1000 THEN 1 ELSE 0 END) AS b9, SUM(CASE WHEN duration_ms > 1000 AND duration_ms <= 5000 THEN 1 ELSE 0 END) AS b10, SUM(CASE WHEN duration_ms > 5000 THEN 1 ELSE 0 END) AS b11"
    };
}

macro_rules! backfill {
    () => {
        concat!(
            "INSERT INTO audit_summary (",
            summary_columns!(),
            ") SELECT ",
            of_events!(),
            " FROM audit_events GROUP BY 1, 2, 3, 4, 5, 6, 7"
        )
    };
}

macro_rules! add_excluded {
    () => {
        "n = audit_summary.n + excluded.n, b0 = audit_summary.b0 + excluded.b0, b1 = audit_summary.b1 + excluded.b1, b2 = audit_summary.b2 + excluded.b2, b3 = audit_summary.b3 + excluded.b3, b4 = audit_summary.b4 + excluded.b4, b5 = audit_summary.b5 + excluded.b5, b6 = audit_summary.b6 + excluded.b6, b7 = audit_summary.b7 + excluded.b7, b8 = audit_summary.b8 + excluded.b8, b9 = audit_summary.b9 + excluded.b9, b10 = audit_summary.b10 + excluded.b10, b11 = audit_summary.b11 + excluded.b11"
    };
}

macro_rules! subtract_removed {
    () => {
        "b0 = audit_summary.b0 - d.b0, b1 = audit_summary.b1 - d.b1, b2 = audit_summary.b2 - d.b2, b3 = audit_summary.b3 - d.b3, b4 = audit_summary.b4 - d.b4, b5 = audit_summary.b5 - d.b5, b6 = audit_summary.b6 - d.b6, b7 = audit_summary.b7 - d.b7, b8 = audit_summary.b8 - d.b8, b9 = audit_summary.b9 - d.b9, b10 = audit_summary.b10 - d.b10, b11 = audit_summary.b11 - d.b11"
    };
}

/// The summary of the events already logged (into an empty summary): the
/// migrations' backfill, and a log loaded with the triggers dropped.
pub const BACKFILL: &str = backfill!();

/// Both migrations' table, its backfill and its index by center.
macro_rules! summary_table {
    () => {
        concat!(
            "CREATE TABLE audit_summary (",
            table_columns!(),
            ");\n",
            backfill!(),
            ";\n",
            "CREATE INDEX audit_summary_center ON audit_summary (center_id, day);\n"
        )
    };
}

/// Migration 8's row trigger on SQLite: one upsert per inserted event.
macro_rules! sqlite_row_trigger {
    () => {
        concat!(
    r#"CREATE TRIGGER audit_summary_add AFTER INSERT ON audit_events BEGIN
INSERT INTO audit_summary ("#,
    summary_columns!(),
    r#") VALUES (substr(NEW.at, 1, 10), COALESCE(NEW.center_id, ''), COALESCE(NEW.client_id, ''),
    COALESCE(NEW.operator_id, ''), NEW.action, NEW.outcome, NEW.cache, 1, NEW.duration_ms,
    (NEW.duration_ms <= 1), (NEW.duration_ms > 1 AND NEW.duration_ms <= 2), (NEW.duration_ms > 2 AND NEW.duration_ms <= 5), (NEW.duration_ms > 5 AND NEW.duration_ms <= 10), (NEW.duration_ms > 10 AND NEW.duration_ms <= 20), (NEW.duration_ms > 20 AND NEW.duration_ms <= 50), (NEW.duration_ms > 50 AND NEW.duration_ms <= 100), (NEW.duration_ms > 100 AND NEW.duration_ms <= 200), (NEW.duration_ms > 200 AND NEW.duration_ms <= 500), (NEW.duration_ms > 500 AND NEW.duration_ms <= 1000), (NEW.duration_ms > 1000 AND NEW.duration_ms <= 5000), (NEW.duration_ms > 5000))
ON CONFLICT (day, center_id, client_id, operator_id, action, outcome, cache) DO UPDATE SET
    max_ms = max(audit_summary.max_ms, excluded.max_ms), "#,
    add_excluded!(),
    ";\nEND;"
        )
    };
}

/// The row trigger that kept SQLite's summary before migration 10: only for
/// `bench_audit --floor`, which measures what it cost.
#[doc(hidden)]
pub const SQLITE_ROW_TRIGGER: &str = sqlite_row_trigger!();

/// SQLite's upsert of one key's counts in an appended batch ([`count_batch`]),
/// in the transaction that inserts the batch; parameters in the order of
/// `summary_columns!`.
pub(super) const UPSERT_COUNTS: &str = concat!(
    "INSERT INTO audit_summary (",
    summary_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) ",
    "ON CONFLICT (day, center_id, client_id, operator_id, action, outcome, cache) DO UPDATE SET ",
    "max_ms = max(audit_summary.max_ms, excluded.max_ms), ",
    add_excluded!()
);

/// One summary key's counts in a batch: the key as the table has it (day,
/// center, client, operator, action, outcome, cache; `''` for none), the
/// calls, the slowest and the duration buckets.
pub(super) struct Counts<'a> {
    pub key: [&'a str; 7],
    pub n: i64,
    pub max_ms: i64,
    pub buckets: [i64; BUCKETS],
}

/// A batch's events counted per summary key, as the migrations' SQL counts
/// them (`of_events!`), in order of first appearance. Counting here and
/// upserting once per key costs less than a trigger's upsert per event, and
/// less than an `INSERT … SELECT … GROUP BY` over the batch, whose sorter
/// cost more than it saved at 32 events a commit.
pub(super) fn count_batch(events: &[crate::audit::AuditEvent]) -> Vec<Counts<'_>> {
    let mut counts: Vec<Counts<'_>> = Vec::new();
    let mut index: std::collections::HashMap<[&str; 7], usize> = std::collections::HashMap::new();
    for e in events {
        let key = [
            e.at.get(..10).unwrap_or(&e.at),
            e.center_id.as_deref().unwrap_or(""),
            e.client_id.as_deref().unwrap_or(""),
            e.operator_id.as_deref().unwrap_or(""),
            e.action.as_str(),
            &e.outcome,
            e.cache.as_str(),
        ];
        let i = *index.entry(key).or_insert_with(|| {
            counts.push(Counts { key, n: 0, max_ms: 0, buckets: [0; BUCKETS] });
            counts.len() - 1
        });
        let duration = e.duration_ms as i64;
        let c = &mut counts[i];
        c.n += 1;
        c.max_ms = c.max_ms.max(duration);
        c.buckets[crate::audit::stats::bucket_of(duration)] += 1;
    }
    counts
}

/// Migration 10 of SQLite: the appender adds each batch ([`count_batch`]).
pub(super) const SQLITE_BATCHES_MIGRATION: &str = "DROP TRIGGER audit_summary_add;";

/// Migration 8 of SQLite: the table, its backfill from the events already
/// logged, and the triggers.
pub(super) const SQLITE_MIGRATION: &str = concat!(
    summary_table!(),
    sqlite_row_trigger!(),
    r#"
CREATE TRIGGER audit_summary_remove AFTER DELETE ON audit_events BEGIN
UPDATE audit_summary SET n = n - 1, b0 = b0 - (OLD.duration_ms <= 1), b1 = b1 - (OLD.duration_ms > 1 AND OLD.duration_ms <= 2), b2 = b2 - (OLD.duration_ms > 2 AND OLD.duration_ms <= 5), b3 = b3 - (OLD.duration_ms > 5 AND OLD.duration_ms <= 10), b4 = b4 - (OLD.duration_ms > 10 AND OLD.duration_ms <= 20), b5 = b5 - (OLD.duration_ms > 20 AND OLD.duration_ms <= 50), b6 = b6 - (OLD.duration_ms > 50 AND OLD.duration_ms <= 100), b7 = b7 - (OLD.duration_ms > 100 AND OLD.duration_ms <= 200), b8 = b8 - (OLD.duration_ms > 200 AND OLD.duration_ms <= 500), b9 = b9 - (OLD.duration_ms > 500 AND OLD.duration_ms <= 1000), b10 = b10 - (OLD.duration_ms > 1000 AND OLD.duration_ms <= 5000), b11 = b11 - (OLD.duration_ms > 5000)
WHERE day = substr(OLD.at, 1, 10) AND center_id = COALESCE(OLD.center_id, '') AND client_id = COALESCE(OLD.client_id, '')
    AND operator_id = COALESCE(OLD.operator_id, '') AND action = OLD.action AND outcome = OLD.outcome AND cache = OLD.cache;
DELETE FROM audit_summary WHERE n = 0 AND day = substr(OLD.at, 1, 10) AND center_id = COALESCE(OLD.center_id, '')
    AND client_id = COALESCE(OLD.client_id, '') AND operator_id = COALESCE(OLD.operator_id, '') AND action = OLD.action
    AND outcome = OLD.outcome AND cache = OLD.cache;
END;
"#
);

/// Migration 5 of PostgreSQL: the same table and backfill; statement
/// triggers that aggregate each batch once.
pub(super) const POSTGRES_MIGRATION: &str = concat!(
    summary_table!(),
    r#"CREATE FUNCTION audit_summary_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO audit_summary ("#,
    summary_columns!(),
    ") SELECT ",
    of_events!(),
    r#" FROM new_events GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (day, center_id, client_id, operator_id, action, outcome, cache) DO UPDATE SET
        max_ms = GREATEST(audit_summary.max_ms, excluded.max_ms), "#,
    add_excluded!(),
    r#";
    RETURN NULL;
END
$fn$;
CREATE TRIGGER audit_summary_add AFTER INSERT ON audit_events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_summary_add();
CREATE FUNCTION audit_summary_remove() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE audit_summary SET n = audit_summary.n - d.n, "#,
    subtract_removed!(),
    " FROM (SELECT ",
    of_events!(),
    r#" FROM old_events GROUP BY 1, 2, 3, 4, 5, 6, 7) AS d
    WHERE audit_summary.day = d.day AND audit_summary.center_id = d.center_id AND audit_summary.client_id = d.client_id
        AND audit_summary.operator_id = d.operator_id AND audit_summary.action = d.action
        AND audit_summary.outcome = d.outcome AND audit_summary.cache = d.cache;
    DELETE FROM audit_summary s USING (SELECT DISTINCT substr(at, 1, 10) AS day, COALESCE(center_id, '') AS center_id,
            COALESCE(client_id, '') AS client_id, COALESCE(operator_id, '') AS operator_id, action, outcome, cache
            FROM old_events) AS d
    WHERE s.n = 0 AND s.day = d.day AND s.center_id = d.center_id AND s.client_id = d.client_id
        AND s.operator_id = d.operator_id AND s.action = d.action AND s.outcome = d.outcome AND s.cache = d.cache;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER audit_summary_remove AFTER DELETE ON audit_events REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_summary_remove();
"#
);

/// Where one part of a stats read comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The summary's rows of the UTC days `from_day` (inclusive) to
    /// `to_day` (exclusive), `YYYY-MM-DD`, matching the filter's equalities.
    Summary { from_day: String, to_day: String, filter: AuditFilter },
    /// The events matching the filter (its `from` and `to` set to the part's).
    Events(AuditFilter),
    /// The same, for a window shorter than two days: read through the time
    /// index, whatever else the filter names (a center's or a governorate's
    /// events over a long log are many more than a day's events).
    Window(AuditFilter),
}

/// A read's parts: whole days from the summary, the partial days at the ends
/// of the window (and a window without whole days) from the events, every
/// part from the events when a filter needs them.
pub fn plan(filter: &AuditFilter) -> Vec<Source> {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    let summary_answers = filter.subject.is_none() && filter.equalities().iter().all(|(_, v)| !v.is_empty());
    let (Some(from), Some(to), true) = (parse(&filter.from), parse(&filter.to), summary_answers) else {
        return vec![Source::Events(filter.clone())];
    };
    let (from, to) = (from.to_offset(time::UtcOffset::UTC), to.to_offset(time::UtcOffset::UTC));
    let first_day =
        if from.time() == time::Time::MIDNIGHT { from.date() } else { from.date().next_day().unwrap_or(from.date()) };
    let end_day = to.date();
    if first_day >= end_day {
        return vec![Source::Window(filter.clone())];
    }
    let midnight = |d: time::Date| d.midnight().assume_utc();
    let events = |a: OffsetDateTime, b: OffsetDateTime| {
        Source::Window(AuditFilter { from: Some(format_rfc3339(a)), to: Some(format_rfc3339(b)), ..filter.clone() })
    };
    let mut parts = Vec::new();
    if from < midnight(first_day) {
        parts.push(events(from, midnight(first_day)));
    }
    parts.push(Source::Summary {
        from_day: first_day.to_string(),
        to_day: end_day.to_string(),
        filter: filter.clone(),
    });
    if midnight(end_day) < to {
        parts.push(events(midnight(end_day), to));
    }
    parts
}

/// The SQL head of a read of the summary (`WHERE 1=1`, then the filters
/// with [`summary_filters`], then `tail`) for `group_by`.
pub(super) fn summary_sql(group_by: &[GroupBy]) -> (String, String) {
    let keys: Vec<&str> = group_by.iter().map(|g| summary_key(*g)).collect();
    let mut select = String::from("SELECT ");
    for k in &keys {
        select.push_str(&format!("{k}, "));
    }
    select.push_str("outcome, cache, CAST(SUM(n) AS BIGINT), MAX(max_ms)");
    for i in 0..BUCKETS {
        select.push_str(&format!(", CAST(SUM(b{i}) AS BIGINT)"));
    }
    select.push_str(" FROM audit_summary WHERE 1=1");
    (select, group_tail(&keys))
}

/// The SQL head of a read of the events, bucketed as the summary is.
pub(super) fn events_sql(group_by: &[GroupBy]) -> (String, String) {
    let keys: Vec<&str> = group_by.iter().map(|g| g.sql()).collect();
    let mut select = String::from("SELECT ");
    for k in &keys {
        select.push_str(&format!("{k}, "));
    }
    select.push_str("outcome, cache, COUNT(*), MAX(duration_ms)");
    for c in bucket_conditions("duration_ms") {
        select.push_str(&format!(", CAST(SUM(CASE WHEN {c} THEN 1 ELSE 0 END) AS BIGINT)"));
    }
    select.push_str(" FROM audit_events WHERE 1=1");
    (select, group_tail(&keys))
}

fn group_tail(keys: &[&str]) -> String {
    let mut group = String::from(" GROUP BY ");
    for k in keys {
        group.push_str(&format!("{k}, "));
    }
    group.push_str("outcome, cache");
    group
}

/// The summary column of a grouping (null where the events have none).
fn summary_key(g: GroupBy) -> &'static str {
    match g {
        GroupBy::Center => "NULLIF(center_id, '')",
        GroupBy::Operator => "NULLIF(operator_id, '')",
        GroupBy::Client => "NULLIF(client_id, '')",
        GroupBy::Action => "action",
        GroupBy::Day => "day",
    }
}

/// The conditions of the buckets on a duration column, in bucket order.
pub fn bucket_conditions(column: &str) -> Vec<String> {
    let mut lower: Option<i64> = None;
    let mut out = Vec::with_capacity(BUCKETS);
    for b in BUCKET_BOUNDS_MS {
        out.push(match lower {
            None => format!("{column} <= {b}"),
            Some(l) => format!("{column} > {l} AND {column} <= {b}"),
        });
        lower = Some(b);
    }
    out.push(format!("{column} > {}", lower.unwrap_or(0)));
    out
}

/// A cell from a row of [`summary_sql`] or [`events_sql`] read as integers
/// and texts by `get` (the first `n` columns are the group's keys).
pub(super) fn cell<E>(
    n: usize,
    key: impl Fn(usize) -> Result<Option<String>, E>,
    text: impl Fn(usize) -> Result<String, E>,
    int: impl Fn(usize) -> Result<i64, E>,
) -> Result<StatsCell, E> {
    let mut buckets = [0; BUCKETS];
    for (i, b) in buckets.iter_mut().enumerate() {
        *b = int(n + 4 + i)?;
    }
    Ok(StatsCell {
        keys: (0..n).map(&key).collect::<Result<_, _>>()?,
        outcome: text(n)?,
        cache: text(n + 1)?,
        count: int(n + 2)?,
        max_ms: int(n + 3)?,
        buckets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from: &str, to: &str) -> AuditFilter {
        AuditFilter { from: Some(from.into()), to: Some(to.into()), ..Default::default() }
    }

    #[test]
    fn whole_days_come_from_the_summary_and_the_ends_from_the_events() {
        let parts = plan(&window("2026-11-02T10:00:00Z", "2026-12-01T08:30:00Z"));
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], Source::Window(window("2026-11-02T10:00:00.000000Z", "2026-11-03T00:00:00.000000Z")));
        let f = window("2026-11-02T10:00:00Z", "2026-12-01T08:30:00Z");
        assert_eq!(parts[1], Source::Summary { from_day: "2026-11-03".into(), to_day: "2026-12-01".into(), filter: f });
        assert_eq!(parts[2], Source::Window(window("2026-12-01T00:00:00.000000Z", "2026-12-01T08:30:00.000000Z")));
        // A calendar month: the summary only.
        let month = AuditFilter {
            center_id: Some("SHR-ZAG-01".into()),
            ..window("2026-11-01T00:00:00.000000Z", "2026-12-01T00:00:00.000000Z")
        };
        let (from_day, to_day) = ("2026-11-01".into(), "2026-12-01".into());
        assert_eq!(plan(&month), [Source::Summary { from_day, to_day, filter: month.clone() }]);
        // Less than a whole day: the events, through the time index.
        let f = window("2026-11-02T10:00:00Z", "2026-11-03T09:00:00Z");
        assert_eq!(plan(&f), [Source::Window(f)]);
    }

    #[test]
    fn a_subject_or_no_window_is_read_from_the_events() {
        let f = AuditFilter {
            subject: Some("29001011300036".into()),
            ..window("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
        };
        assert_eq!(plan(&f), [Source::Events(f)]);
        let f = AuditFilter::default();
        assert_eq!(plan(&f), [Source::Events(f)]);
        let f =
            AuditFilter { center_id: Some(String::new()), ..window("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z") };
        assert_eq!(plan(&f), [Source::Events(f)]);
    }

    #[test]
    fn a_batch_is_counted_once_per_key_with_its_buckets() {
        use crate::audit::{Action, CacheUse, NewEvent};
        let event = |at: &str, operator: Option<&str>, ms: u64| NewEvent {
            at: at.into(),
            client_id: Some("center-demo".into()),
            center_id: Some("SHR-ZAG-01".into()),
            operator_id: operator.map(Into::into),
            action: Some(Action::NationalIdVerify),
            outcome: "match".into(),
            cache: Some(CacheUse::Hit),
            duration_ms: ms,
            ..NewEvent::default()
        };
        let genesis = crate::store::ChainHead { seq: 0, hash: "0".repeat(64), checkpoint_seq: 0 };
        let batch = crate::audit::seal(
            &genesis,
            &[
                event("2026-12-07T23:59:59.999999Z", Some("EMP-1"), 1),
                event("2026-12-07T23:59:59.999999Z", Some("EMP-1"), 7000),
                event("2026-12-08T00:00:00.000001Z", Some("EMP-1"), 3),
                event("2026-12-07T12:00:00.000000Z", None, 2),
            ],
        );
        let counts = count_batch(&batch);
        let keys: Vec<_> = counts.iter().map(|c| (c.key[0], c.key[3])).collect();
        assert_eq!(keys, [("2026-12-07", "EMP-1"), ("2026-12-08", "EMP-1"), ("2026-12-07", "")]);
        let first = &counts[0];
        assert_eq!((first.n, first.max_ms), (2, 7000));
        assert_eq!((first.buckets[0], first.buckets[BUCKETS - 1], first.buckets.iter().sum::<i64>()), (1, 1, 2));
        assert_eq!(counts[1].buckets[2], 1, "3 ms is in the (2, 5] bucket");
        assert_eq!(
            counts[2].key,
            ["2026-12-07", "SHR-ZAG-01", "center-demo", "", "national_id.verify", "match", "hit"]
        );
    }

    #[test]
    fn the_migrations_bucket_as_the_reads_do() {
        let sums: Vec<String> = bucket_conditions("duration_ms")
            .iter()
            .enumerate()
            .map(|(i, c)| format!("SUM(CASE WHEN {c} THEN 1 ELSE 0 END) AS b{i}"))
            .collect();
        let rows: Vec<String> = bucket_conditions("NEW.duration_ms").iter().map(|c| format!("({c})")).collect();
        let removed: Vec<String> = bucket_conditions("OLD.duration_ms")
            .iter()
            .enumerate()
            .map(|(i, c)| format!("b{i} = b{i} - ({c})"))
            .collect();
        for migration in [SQLITE_MIGRATION, POSTGRES_MIGRATION] {
            assert!(migration.contains(&sums.join(", ")), "{migration}");
        }
        assert!(SQLITE_MIGRATION.contains(&rows.join(", ")));
        assert!(SQLITE_MIGRATION.contains(&removed.join(", ")));
        assert_eq!(bucket_conditions("d").len(), BUCKETS);
    }
}
