//! The inspectors' reads (CONTRACT §13) on a generated audit log, beside the
//! plain query for one citizen in the same run: `/v1/audit/stats` per center,
//! per center and day, and one center's days over the last 30 days, and
//! `/v1/audit/signals` over the same month, through the product's `Store`.
//!
//! The log is one `examples/bench_query` keeps (`--sqlite PATH` or
//! `--pg-db NAME`): its events are 3 s apart, so a month is ~860,000 events
//! whatever the log's length.
//!
//! ```sh
//! cargo run --release --example bench_query -- --events 1000000 --backends sqlite --sqlite /tmp/big.db
//! cargo run --release --example bench_stats -- sqlite:///tmp/big.db [runs]
//! ```

use bawaba::audit::stats::{GroupBy, aggregate};
use bawaba::audit::{AuditFilter, format_rfc3339, signals};
use bawaba::store::{Page, Store, StoreOptions};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn time<F, Fut, T>(label: &str, runs: usize, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
    T: std::fmt::Debug + Sized,
{
    let mut took = Vec::with_capacity(runs);
    let mut size = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = f().await?;
        took.push(t.elapsed());
        size = format!("{out:?}");
    }
    took.sort();
    println!("| {label} | {:.1} | {:.1} | {size} |", percentile(&took, 0.5), percentile(&took, 0.95));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or_else(|| anyhow::anyhow!("usage: bench_stats STORE_URL [runs]"))?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    let store = Store::open(&url, &StoreOptions::default()).await?;
    let last = store.query_events(&AuditFilter::default(), Page::NewestFirst { before: None }, 1).await?;
    let last = last.first().ok_or_else(|| anyhow::anyhow!("an empty log"))?;
    let end = time::OffsetDateTime::parse(&last.at, &time::format_description::well_known::Rfc3339)?;
    let (from, to) = (format_rfc3339(end - time::Duration::days(30)), format_rfc3339(end + time::Duration::SECOND));
    let month = AuditFilter { from: Some(from.clone()), to: Some(to.clone()), ..Default::default() };
    let center = last.center_id.clone().unwrap_or_default();
    let subject = last.subject.clone().unwrap_or_default();
    let one_center = AuditFilter { center_id: Some(center.clone()), ..month.clone() };
    let settings = bawaba::config::Settings::load_from(None, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rules = signals::SignalRules::new(&settings.signals, &[]);
    println!("{url}: the month {from} .. {to}; center {center}; {runs} runs each\n");
    println!("| read | p50 ms | p95 ms | answer |\n|---|---|---|---|");
    let s = &store;
    time("stats, group_by=center, a month", runs, || async {
        Ok(aggregate(&[GroupBy::Center], s.audit_stats(&[GroupBy::Center], &month).await?).len())
    })
    .await?;
    time("stats, group_by=center,day, a month", runs, || async {
        let g = [GroupBy::Center, GroupBy::Day];
        Ok(aggregate(&g, s.audit_stats(&g, &month).await?).len())
    })
    .await?;
    time("stats, group_by=day, one center, a month", runs, || async {
        Ok(aggregate(&[GroupBy::Day], s.audit_stats(&[GroupBy::Day], &one_center).await?).len())
    })
    .await?;
    time("signals, a month", runs, || async { Ok(signals::find(s, &rules, &from, &to).await?.len()) }).await?;
    let citizen = AuditFilter { subject: Some(subject.clone()), ..Default::default() };
    time("events of one citizen (limit 1000)", runs, || async {
        Ok(s.query_events(&citizen, Page::NewestFirst { before: None }, 1000).await?.len())
    })
    .await?;
    Ok(())
}
