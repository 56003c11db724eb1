//! The stats' summary table agrees with the events it counts, on both
//! stores: the same answer from the summary and from a full scan of a
//! generated log with every outcome, cache use and duration bucket, after
//! an archive removed the oldest events, after the migration's backfill of
//! a log written before the summary existed, and after a restart in the
//! middle of a load (a batch is counted in its own transaction, so never
//! twice nor half).

mod common;

use bawaba::audit::stats::{BUCKET_BOUNDS_MS, GroupBy, StatsRow, aggregate};
use bawaba::audit::{Action, AuditFilter, AuditLog, CacheUse, CheckpointKey, NewEvent, Sealer};
use bawaba::store::{Store, StoreOptions};
use common::{Backend, PgDatabase, postgres_server};
use std::sync::Arc;
use std::time::Duration;

/// A fresh store of `backend` (the database, or the directory of the file, lives as long as the guard).
async fn fresh(backend: Backend) -> (String, Box<dyn std::any::Any + Send>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            (url, Box::new(dir))
        }
        Backend::Postgres => {
            let db = PgDatabase::create(&postgres_server().unwrap()).await;
            (db.url.clone(), Box::new(db))
        }
    }
}

async fn open(url: &str) -> Store {
    let options = StoreOptions { fsync_each_commit: false, ..StoreOptions::default() };
    Store::open(url, &options).await.unwrap()
}

fn sealer() -> Sealer {
    Sealer { key: Arc::new(CheckpointKey::generate().unwrap()), every: 50 }
}

const OUTCOMES: [(&str, u16); 8] = [
    ("match", 200),
    ("mismatch", 200),
    ("not_found", 200),
    ("ok", 200),
    ("accepted", 202),
    ("forbidden", 403),
    ("too_many_mismatches", 429),
    ("upstream_unavailable", 503),
];
const CACHES: [CacheUse; 4] = [CacheUse::Hit, CacheUse::Miss, CacheUse::Stale, CacheUse::None];

/// Event `i` of a generated log over the UTC days from 2026-10-29 on (every
/// 37 minutes): every outcome, cache use and duration around each bucket
/// bound, centers, clients and operators (some absent), several actions;
/// three events in a row share their key (all but the duration).
fn event(i: u64) -> NewEvent {
    let at = time::macros::datetime!(2026-10-29 00:00 UTC) + time::Duration::minutes(37 * i as i64);
    let mut durations: Vec<u64> = vec![0];
    for b in BUCKET_BOUNDS_MS {
        durations.extend([b as u64, b as u64 + 1]);
    }
    durations.push(9000);
    let k = i / 3;
    let (outcome, http_status) = OUTCOMES[(k % 8) as usize];
    let center = ["SHR-ZAG-01", "CAI-NSR-01", "ALX-MNT-02"][(k % 3) as usize];
    let none = k.is_multiple_of(11);
    NewEvent {
        id: format!("e-{i}"),
        at: bawaba::audit::format_rfc3339(at),
        client_id: (!k.is_multiple_of(13)).then(|| format!("client-{}", k % 3)),
        center_id: (!none).then(|| center.to_owned()),
        operator_id: (!none && !k.is_multiple_of(5)).then(|| format!("EMP-{}", 1000 + k % 7)),
        action: Some(
            [Action::NationalIdVerify, Action::RealEstateVerify, Action::TokenIssue, Action::SmsSend][(k % 4) as usize],
        ),
        subject: Some(format!("2900101130{:04}", i % 17)),
        outcome: outcome.to_owned(),
        http_status,
        cache: Some(CACHES[((k / 8) % 4) as usize]),
        duration_ms: durations[(i as usize * 7) % durations.len()],
        ..NewEvent::default()
    }
}

async fn append(store: &Store, range: std::ops::Range<u64>) {
    let sealer = sealer();
    let events: Vec<NewEvent> = range.map(event).collect();
    for batch in events.chunks(23) {
        store.append_events(batch, &sealer).await.unwrap();
    }
}

const GROUPINGS: [&[GroupBy]; 6] = [
    &[GroupBy::Center],
    &[GroupBy::Operator],
    &[GroupBy::Client],
    &[GroupBy::Action],
    &[GroupBy::Center, GroupBy::Day],
    &[GroupBy::Client, GroupBy::Operator, GroupBy::Action],
];

/// A window as the HTTP layer passes it on (fixed-width RFC 3339, so that text order is time order).
fn window(from: &str, to: &str) -> AuditFilter {
    let fixed = |s: &str| {
        let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        Some(bawaba::audit::format_rfc3339(t))
    };
    AuditFilter { from: fixed(from), to: fixed(to), ..AuditFilter::default() }
}

/// Every grouping and a few filters and windows (whole days, partial days,
/// less than a day) read the same through the store as from the events.
async fn assert_agrees(store: &Store) -> usize {
    let month = window("2026-10-29T00:00:00Z", "2026-11-28T00:00:00Z");
    let filters = [
        month.clone(),
        window("2026-10-29T05:17:00Z", "2026-11-02T13:45:00Z"),
        window("2026-10-30T01:00:00Z", "2026-10-30T23:00:00Z"),
        AuditFilter { center_id: Some("SHR-ZAG-01".into()), ..month.clone() },
        AuditFilter { outcome: Some("mismatch".into()), action: Some("national_id.verify".into()), ..month.clone() },
        AuditFilter { operator_id: Some("EMP-1003".into()), client_id: Some("client-1".into()), ..month.clone() },
    ];
    let mut rows_compared = 0;
    for group_by in GROUPINGS {
        for filter in &filters {
            let read: Vec<StatsRow> = aggregate(group_by, store.audit_stats(group_by, filter).await.unwrap());
            let scanned = aggregate(group_by, store.audit_stats_from_events(group_by, filter).await.unwrap());
            assert_eq!(read, scanned, "{group_by:?} {filter:?}");
            rows_compared += read.len();
        }
    }
    rows_compared
}

/// (events in the log, events the summary counts, summary rows).
async fn totals(url: &str) -> (i64, i64, i64) {
    use sqlx::Connection;
    let sql = "SELECT (SELECT COUNT(*) FROM audit_events), (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM audit_summary), \
               (SELECT COUNT(*) FROM audit_summary)";
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(sql).fetch_one(&mut c).await.unwrap()
    }
}

async fn run_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

async fn the_summary_answers_as_a_full_scan_does(backend: Backend) {
    let (url, _guard) = fresh(backend).await;
    let store = open(&url).await;
    append(&store, 0..1200).await;
    let (events, counted, rows) = totals(&url).await;
    assert_eq!((events, counted), (1200, 1200));
    assert!(rows > 100 && rows < 600, "one row per key, not per event: {rows}");
    let compared = assert_agrees(&store).await;
    assert!(compared > 300, "the windows hold the log: {compared} rows");

    // A month of whole days is read from the summary alone: emptied behind
    // the triggers' back, it answers nothing while the events still do.
    run_sql(&url, "DELETE FROM audit_summary WHERE day < '2026-11-05'").await;
    let days = window("2026-10-29T00:00:00Z", "2026-11-05T00:00:00Z");
    assert_eq!(store.audit_stats(&[GroupBy::Center], &days).await.unwrap(), []);
    assert!(!store.audit_stats_from_events(&[GroupBy::Center], &days).await.unwrap().is_empty());
}

async fn archived_events_leave_the_summary(backend: Backend) {
    let (url, _guard) = fresh(backend).await;
    let store = open(&url).await;
    append(&store, 0..900).await;
    store.remove_archived(400, "archive-1.ndjson.gz", "00", "2026-12-01T00:00:00Z").await.unwrap();
    assert_eq!(totals(&url).await.0, 500);
    assert_eq!(totals(&url).await.1, 500);
    assert_agrees(&store).await;
}

async fn the_migration_backfills_a_log_written_before_it(backend: Backend) {
    let (url, _guard) = fresh(backend).await;
    let store = open(&url).await;
    append(&store, 0..700).await;
    drop(store);
    // The store as it was before the summary's migration.
    // (On SQLite also migration 10, which drops the row trigger 8 makes again.)
    let versions = if backend == Backend::Sqlite { "8, 10" } else { "5" };
    let undo = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_summary_remove; DROP TABLE audit_summary;",
        Backend::Postgres => {
            "DROP TRIGGER audit_summary_add ON audit_events; DROP TRIGGER audit_summary_remove ON audit_events; \
             DROP FUNCTION audit_summary_add(); DROP FUNCTION audit_summary_remove(); DROP TABLE audit_summary;"
        }
    };
    run_sql(&url, &format!("{undo} DELETE FROM schema_migrations WHERE version IN ({versions});")).await;
    let store = open(&url).await;
    assert_eq!(totals(&url).await.1, 700);
    append(&store, 700..800).await;
    assert_eq!(totals(&url).await.1, 800);
    assert_agrees(&store).await;
}

async fn a_restart_in_the_middle_of_a_load_counts_each_event_once(backend: Backend) {
    let (url, _guard) = fresh(backend).await;
    drop(open(&url).await);
    // A gateway's runtime with 32 callers appending through the audit
    // writer, stopped abruptly mid-load (its tasks and connections dropped).
    let load_url = url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let store = open(&load_url).await;
            let metrics = Arc::new(bawaba::metrics::Metrics::new());
            let (log, _tasks) = AuditLog::start(store, 64, sealer(), Duration::from_secs(3600), metrics).unwrap();
            for t in 0..32u64 {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let mut e = event(n);
                        (e.id, e.at) = (format!("load-{t}-{n}"), bawaba::audit::now_rfc3339());
                        if log.append(e).await.is_err() {
                            return;
                        }
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        });
        rt.shutdown_background();
    })
    .join()
    .unwrap();
    // A batch the writer's thread was committing ends (or not) meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (events, counted, _) = totals(&url).await;
    assert!(events > 100, "the load was under way: {events} events");
    assert_eq!(counted, events);
    // The restarted store goes on counting from there.
    let store = open(&url).await;
    append(&store, 0..300).await;
    let (events_after, counted_after, _) = totals(&url).await;
    assert_eq!((events_after, counted_after), (events + 300, events + 300));
    let today = time::OffsetDateTime::now_utc().date();
    let around = window(
        &format!("{}T00:00:00Z", today.previous_day().unwrap()),
        &format!("{}T00:00:00Z", today.next_day().unwrap()),
    );
    for group_by in GROUPINGS {
        let read = aggregate(group_by, store.audit_stats(group_by, &around).await.unwrap());
        assert_eq!(read, aggregate(group_by, store.audit_stats_from_events(group_by, &around).await.unwrap()));
        assert_eq!(read.iter().map(|r| r.total).sum::<i64>(), events, "{group_by:?}");
    }
}

/// A governorate is its centers, those whose ID begins with its code and a
/// hyphen, in byte order whatever the database's collation: on PostgreSQL
/// the store is a database whose default collation is ICU's en-US, in which
/// `shr-zag-01` sorts between `SHR-` and `SHR.`.
async fn a_governorate_is_the_centers_of_its_code(backend: Backend) {
    let (url, _guard) = match backend {
        Backend::Sqlite => fresh(backend).await,
        Backend::Postgres => {
            let options = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'";
            let db = PgDatabase::create_with(&postgres_server().unwrap(), options).await;
            (db.url.clone(), Box::new(db) as Box<dyn std::any::Any + Send>)
        }
    };
    let store = open(&url).await;
    let centers = ["SHR-ZAG-01", "SHR-HUS-02", "shr-zag-01", "SHRX-01", "SH-01", "SHR", "SHR.1", "CAI-NSR-01"];
    // Every center on each of three days, at midnight and at noon: whole
    // days come from the summary, the partial ones from the events.
    let events: Vec<NewEvent> = (0..48u64)
        .map(|i| {
            let at = time::macros::datetime!(2026-11-01 00:00 UTC) + time::Duration::hours(12 * (i / 8) as i64);
            NewEvent {
                center_id: Some(centers[(i % 8) as usize].to_owned()),
                at: bawaba::audit::format_rfc3339(at),
                ..event(i)
            }
        })
        .collect();
    store.append_events(&events, &sealer()).await.unwrap();
    for (from, to) in [
        ("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"),
        ("2026-11-01T06:00:00Z", "2026-11-03T13:00:00Z"),
        ("2026-11-02T06:00:00Z", "2026-11-02T18:00:00Z"),
    ] {
        let shr = AuditFilter { governorate: Some("SHR".into()), ..window(from, to) };
        let read = aggregate(&[GroupBy::Center], store.audit_stats(&[GroupBy::Center], &shr).await.unwrap());
        let scanned =
            aggregate(&[GroupBy::Center], store.audit_stats_from_events(&[GroupBy::Center], &shr).await.unwrap());
        assert_eq!(read, scanned, "{from} .. {to}");
        let found: Vec<&str> = read.iter().map(|r| r.group["center_id"].as_deref().unwrap()).collect();
        assert_eq!(found, ["SHR-HUS-02", "SHR-ZAG-01"], "{from} .. {to}");
        let page = store.query_events(&shr, bawaba::store::Page::NewestFirst { before: None }, 1000).await.unwrap();
        assert!(!page.is_empty() && page.iter().all(|e| e.center_id.as_deref().unwrap().starts_with("SHR-")));
        // With a center of another governorate, nothing.
        let neither = AuditFilter { center_id: Some("CAI-NSR-01".into()), ..shr.clone() };
        assert_eq!(store.audit_stats(&[GroupBy::Center], &neither).await.unwrap(), []);
    }
}

/// The claim-guessing stop keeps one row per distinct mismatching value,
/// its time the latest: a value repeated (in one batch or in many) moves
/// its time on and adds no row, so the request path's read stays small.
async fn a_repeated_mismatching_value_is_one_row(backend: Backend) {
    use bawaba::store::ClaimMismatchRow;
    let (url, _guard) = fresh(backend).await;
    let store = open(&url).await;
    let row = |value: &str, i: u64| ClaimMismatchRow {
        client_id: "center-demo".into(),
        subject: "29001011300036".into(),
        claim: "mother_name".into(),
        value_hash: value.into(),
        at: bawaba::audit::format_rfc3339(
            time::macros::datetime!(2026-11-01 00:00 UTC) + time::Duration::minutes(i as i64),
        ),
    };
    for batch in 0..3u64 {
        let events: Vec<NewEvent> = (0..5u64)
            .map(|i| {
                let n = batch * 5 + i;
                NewEvent { claim_mismatches: vec![row("h-same", n), row(&format!("h-{}", n % 2), n)], ..event(n) }
            })
            .collect();
        store.append_events(&events, &sealer()).await.unwrap();
    }
    let seen = store.claim_values_seen("center-demo", "29001011300036", "2026-11-01T00:00:00Z").await.unwrap();
    let mut found: Vec<(String, String)> = seen.into_iter().map(|v| (v.value_hash, v.last_at)).collect();
    found.sort();
    let at = |i: u64| row("", i).at;
    assert_eq!(found, [("h-0".into(), at(14)), ("h-1".into(), at(13)), ("h-same".into(), at(14))]);
    // Concurrent reads (one query for many on PostgreSQL) each get their own answer.
    let reads = (0..40u64).map(|i| {
        let (client, since) = if i % 2 == 0 { ("center-demo", at(i % 16)) } else { ("other", at(0)) };
        let store = store.clone();
        async move { (i, store.claim_values_seen(client, "29001011300036", &since).await.unwrap()) }
    });
    for (i, seen) in futures::future::join_all(reads).await {
        let mut hashes: Vec<String> = seen.into_iter().map(|v| v.value_hash).collect();
        hashes.sort();
        let expected: &[&str] = match i {
            _ if i % 2 == 1 => &[],
            _ if i % 16 <= 13 => &["h-0", "h-1", "h-same"],
            _ => &["h-0", "h-same"],
        };
        assert_eq!(hashes, expected, "read {i}");
    }
    use sqlx::Connection;
    let sql = "SELECT COUNT(*) FROM claim_mismatches";
    let rows: (i64,) = if url.starts_with("sqlite") {
        sqlx::query_as(sql).fetch_one(&mut sqlx::SqliteConnection::connect(&url).await.unwrap()).await.unwrap()
    } else {
        sqlx::query_as(sql).fetch_one(&mut sqlx::PgConnection::connect(&url).await.unwrap()).await.unwrap()
    };
    assert_eq!(rows.0, 3, "one row per distinct value");
}

/// Each signal group's event IDs, read for all groups of a kind at once,
/// are the group's first 100 events in chain order, as a scan of the log
/// finds them: groups without a center or an operator included, groups not
/// asked for left out.
async fn signal_groups_list_their_first_events(backend: Backend) {
    use bawaba::store::{MAX_EVENT_IDS, SignalSql};
    let (url, _guard) = fresh(backend).await;
    let store = open(&url).await;
    // Uneven groups: half the calls are one operator's, some have no
    // operator or no center; some are refused (no data reached).
    let events: Vec<NewEvent> = (0..900u64)
        .map(|i| {
            let (outcome, http_status) = [("match", 200), ("mismatch", 200), ("forbidden", 403)][(i % 3) as usize];
            NewEvent {
                action: Some([Action::NationalIdVerify, Action::TokenIssue][(i % 10 == 9) as usize]),
                operator_id: match i {
                    _ if i % 2 == 0 => Some("EMP-1".into()),
                    _ if i % 5 == 0 => None,
                    _ => Some("EMP-2".into()),
                },
                center_id: (i % 7 != 0).then(|| "SHR-ZAG-01".into()),
                client_id: Some("center-demo".into()),
                subject: (i % 11 != 0).then(|| format!("2900101130{:04}", i % 4)),
                outcome: outcome.into(),
                http_status,
                ..event(i)
            }
        })
        .collect();
    for batch in events.chunks(50) {
        store.append_events(batch, &sealer()).await.unwrap();
    }
    let all = store.events_after(0, 10_000).await.unwrap();
    let (from, to) = ("2026-10-29T00:00:00.000000Z", "2026-12-29T00:00:00.000000Z");
    let data = |e: &bawaba::audit::AuditEvent| {
        ["national_id.verify", "real_estate.verify", "sms.send"].contains(&e.action.as_str())
            && ["match", "mismatch", "not_found", "accepted"].contains(&e.outcome.as_str())
            && e.subject.is_some()
    };
    let guessing = |e: &bawaba::audit::AuditEvent| {
        ["mismatch", "too_many_mismatches"].contains(&e.outcome.as_str()) && e.subject.is_some()
    };
    type Kind<'a> = (SignalSql, &'a dyn Fn(&bawaba::audit::AuditEvent) -> bool, bool);
    let kinds: [Kind; 2] = [(SignalSql::ManySubjects, &data, false), (SignalSql::ClaimGuessing, &guessing, true)];
    for (kind, condition, by_subject) in kinds {
        let mut groups = store.signal_groups(&kind, from, to, 1, 1000).await.unwrap();
        assert!(groups.iter().any(|g| g.operator_id.is_none()), "{kind:?}: a group without an operator");
        if !by_subject {
            assert!(groups.iter().any(|g| g.count > MAX_EVENT_IDS), "{kind:?}: a group past the cap: {groups:?}");
        }
        // Every other group only: the others' events are not listed.
        groups = groups.into_iter().step_by(2).collect();
        let ids = store.signal_event_ids(&kind, from, to, &groups).await.unwrap();
        assert_eq!(ids.len(), groups.len());
        for (g, ids) in groups.iter().zip(ids) {
            let expected: Vec<String> = all
                .iter()
                .filter(|e| {
                    condition(e)
                        && e.client_id == g.client_id
                        && e.center_id == g.center_id
                        && e.operator_id == g.operator_id
                        && (!by_subject || e.subject == g.subject)
                })
                .take(MAX_EVENT_IDS as usize)
                .map(|e| e.id.clone())
                .collect();
            assert_eq!(ids, expected, "{kind:?} {g:?}");
        }
    }
    assert_eq!(store.signal_event_ids(&SignalSql::NoCaseRef, from, to, &[]).await.unwrap(), Vec::<Vec<String>>::new());
}

on_both_backends!(
    signal_groups_list_their_first_events,
    a_repeated_mismatching_value_is_one_row,
    a_governorate_is_the_centers_of_its_code,
    the_summary_answers_as_a_full_scan_does,
    archived_events_leave_the_summary,
    the_migration_backfills_a_log_written_before_it,
    a_restart_in_the_middle_of_a_load_counts_each_event_once,
);
