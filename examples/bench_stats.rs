//! The inspectors' reads (CONTRACT §13) on a generated audit log, beside the
//! plain query for one citizen in the same run: `/v1/audit/stats` per center,
//! per center and day, one governorate's centers and their days, one
//! center's days and operators, over the last
//! calendar month of whole UTC days (read from the summary alone) and over
//! the 30 days before the last event (the default window: whole days from
//! the summary, the partial days at its ends from the events), and
//! `/v1/audit/signals` over the same 30 days (every center working 08:00–15:00
//! Cairo time, Sunday to Thursday), through the product's `Store`.
//! Each read runs `runs` times after one warm-up run (signals: 3 times).
//!
//! The log is one `examples/bench_query` keeps (`--sqlite PATH` or
//! `--pg-db NAME`): its events are 3 s apart, so a month is ~860,000 events
//! whatever the log's length, over 300 centers (11 or 12 per governorate).
//!
//! ```sh
//! cargo run --release --example bench_query -- --events 1000000 --backends sqlite --sqlite /tmp/big.db
//! cargo run --release --example bench_stats -- sqlite:///tmp/big.db [runs] [label] [--no-signals]
//! ```

use bawaba::audit::stats::{GroupBy, aggregate};
use bawaba::audit::{AuditFilter, format_rfc3339, signals};
use bawaba::store::{Page, Store, StoreOptions};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn time<F, Fut>(label: &str, store_label: &str, runs: usize, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    f().await?;
    let mut took = Vec::with_capacity(runs);
    let mut size = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        size = f().await?;
        took.push(t.elapsed());
    }
    took.sort();
    println!("| {store_label} | {label} | {:.1} | {:.1} | {size} |", percentile(&took, 0.5), percentile(&took, 0.95));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: bench_stats STORE_URL [runs] [label]"))?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(20);
    let label = args.next().unwrap_or_else(|| url.split(':').next().unwrap_or_default().to_owned());
    // `--no-signals`: the stats and the citizen's events only (signals take minutes on a 10M-event log).
    let with_signals = args.next().as_deref() != Some("--no-signals");
    let store = Store::open(&url, &StoreOptions::default()).await?;
    let last = store.query_events(&AuditFilter::default(), Page::NewestFirst { before: None }, 1).await?;
    let last = last.first().ok_or_else(|| anyhow::anyhow!("an empty log"))?;
    let end = time::OffsetDateTime::parse(&last.at, &time::format_description::well_known::Rfc3339)?;
    let (from, to) = (format_rfc3339(end - time::Duration::days(30)), format_rfc3339(end + time::Duration::SECOND));
    let rolling = AuditFilter { from: Some(from.clone()), to: Some(to.clone()), ..Default::default() };
    // The last calendar month before the last event's.
    let first_of_this = end.date().replace_day(1)?;
    let first_of_last = first_of_this.previous_day().expect("a day before").replace_day(1)?;
    let at = |d: time::Date| format_rfc3339(d.midnight().assume_utc());
    let month = AuditFilter { from: Some(at(first_of_last)), to: Some(at(first_of_this)), ..Default::default() };
    let center = last.center_id.clone().unwrap_or_default();
    let subject = last.subject.clone().unwrap_or_default();
    let settings = bawaba::config::Settings::load_from(None, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rules = signals::SignalRules::new(&settings.signals, &[]);
    // Every center works 08:00–15:00 Cairo time, Sunday to Thursday (the off-hours read's usual case).
    let centers = aggregate(&[GroupBy::Center], store.audit_stats(&[GroupBy::Center], &month).await?);
    let working = signals::WorkingTime { start: 8 * 60, end: 15 * 60, days: bawaba::config::EGYPT_WORKING_WEEK };
    rules.hours = centers
        .iter()
        .filter_map(|r| r.group.get("center_id").cloned().flatten())
        .map(|c| (format!("center-{}", c.to_lowercase()), working))
        .collect();
    let governorate = center.split('-').next().unwrap_or_default().to_owned();
    eprintln!(
        "{label}: month {first_of_last} .. {first_of_this}; 30 days {from} .. {to}; center {center}; \
         governorate {governorate}; {} clients with working hours; {runs} runs",
        rules.hours.len()
    );
    let s = &store;
    let rows = |g: &'static [GroupBy], f: AuditFilter| async move {
        let rows = aggregate(g, s.audit_stats(g, &f).await?);
        Ok::<_, anyhow::Error>(format!("{} rows, {} calls", rows.len(), rows.iter().map(|r| r.total).sum::<i64>()))
    };
    for (window, filter) in [("calendar month", &month), ("30 days to the last event", &rolling)] {
        let one_center = AuditFilter { center_id: Some(center.clone()), ..filter.clone() };
        let one_governorate = AuditFilter { governorate: Some(governorate.clone()), ..filter.clone() };
        time(&format!("stats, group_by=center, {window}"), &label, runs, || rows(&[GroupBy::Center], filter.clone()))
            .await?;
        let center_day: &'static [GroupBy] = &[GroupBy::Center, GroupBy::Day];
        time(&format!("stats, group_by=center,day, {window}"), &label, runs, || rows(center_day, filter.clone()))
            .await?;
        time(&format!("stats, group_by=center&governorate=…, {window}"), &label, runs, || {
            rows(&[GroupBy::Center], one_governorate.clone())
        })
        .await?;
        time(&format!("stats, group_by=center,day&governorate=…, {window}"), &label, runs, || {
            rows(center_day, one_governorate.clone())
        })
        .await?;
        time(&format!("stats, group_by=day&center_id=…, {window}"), &label, runs, || {
            rows(&[GroupBy::Day], one_center.clone())
        })
        .await?;
        time(&format!("stats, group_by=operator&center_id=…, {window}"), &label, runs, || {
            rows(&[GroupBy::Operator], one_center.clone())
        })
        .await?;
    }
    let citizen = AuditFilter { subject: Some(subject.clone()), ..Default::default() };
    time("events of one citizen (limit 1000)", &label, runs, || async {
        Ok(format!("{} events", s.query_events(&citizen, Page::NewestFirst { before: None }, 1000).await?.len()))
    })
    .await?;
    if with_signals {
        time("signals, 30 days to the last event", &label, runs.min(3), || async {
            Ok(format!("{} signals", signals::find(s, &rules, &from, &to).await?.len()))
        })
        .await?;
    }
    Ok(())
}
