//! `bawaba audit verify | export | report | archive`: the auditors' and
//! operators' tools that read the store directly.

use crate::app::load_settings;
use crate::audit::archive::{self, verify_archive};
use crate::audit::export::{self, Format};
use crate::audit::{CheckpointKey, TrustedKeys, VerifyReport, verify_chain};
use crate::config::Settings;
use crate::store::{Store, StoreOptions};
use futures::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The filters of `/v1/audit/events`, as command-line options.
#[derive(clap::Args, Debug, Default)]
pub struct FilterArgs {
    /// The citizen: a national ID, `office/registration_number`, a property ID or a phone.
    #[arg(long)]
    pub subject: Option<String>,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub center_id: Option<String>,
    /// The centers of one governorate (`SHR`: the center IDs `SHR-…`).
    #[arg(long)]
    pub governorate: Option<String>,
    #[arg(long)]
    pub operator_id: Option<String>,
    #[arg(long)]
    pub action: Option<String>,
    #[arg(long)]
    pub outcome: Option<String>,
    /// RFC 3339, inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    #[arg(long)]
    pub to: Option<String>,
}

impl FilterArgs {
    /// Parsed by the API's own parser, so the CLI accepts exactly what the API does.
    fn parse(&self) -> Result<crate::audit::AuditFilter, String> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("subject", &self.subject),
            ("client_id", &self.client_id),
            ("center_id", &self.center_id),
            ("governorate", &self.governorate),
            ("operator_id", &self.operator_id),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        match crate::http::audit_api::parse_query(&q.finish(), crate::http::audit_api::Allow::FiltersOnly) {
            Ok((query, _)) => Ok(query.filter),
            Err(e) => Err(e
                .field_errors()
                .iter()
                .map(|f| format!("--{}: {}", f.field.replace('_', "-"), f.reason))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bawaba: {message}");
    ExitCode::from(2)
}

async fn open(config: Option<&std::path::Path>) -> Result<(Settings, Store), ExitCode> {
    let settings = load_settings(config).map_err(|p| fail(format!("invalid configuration:\n{p}")))?;
    let options =
        StoreOptions { busy_timeout: std::time::Duration::from_secs(5), ..StoreOptions::from(&settings.store) };
    let store = Store::open(&settings.store.url, &options).await.map_err(|e| fail(format!("store.url: {e}")))?;
    Ok((settings, store))
}

fn print_report(what: &str, r: &VerifyReport) {
    if r.ok {
        println!(
            "{what} intact: {} events, head seq {}, signed through seq {}",
            r.checked,
            r.head_seq.unwrap_or(0),
            r.signed_through_seq.unwrap_or(0)
        );
    } else {
        println!(
            "{what} BROKEN at seq {}: {} ({} events verified before it)",
            r.first_bad_seq.unwrap_or(0),
            r.reason.as_deref().unwrap_or("unknown"),
            r.checked
        );
    }
}

/// `audit verify`: the live chain against its signed checkpoints, and any
/// archives given, each on its own and in sequence with the live log.
pub async fn verify(config: Option<PathBuf>, public_keys: Vec<PathBuf>, archives: Vec<PathBuf>) -> ExitCode {
    let (settings, store) = match open(config.as_deref()).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut trusted = TrustedKeys::default();
    if public_keys.is_empty() {
        match std::fs::read_to_string(&settings.audit.checkpoint_key_file) {
            Ok(pem) => {
                if let Err(e) = trusted.add_pem(&pem) {
                    return fail(format!("audit.checkpoint_key_file: {e}"));
                }
            }
            // No key yet (a gateway has never run on this configuration): the
            // chain can still be checked if nothing in it was ever signed.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && matches!(store.checkpoints().await, Ok(c) if c.is_empty()) =>
            {
                eprintln!(
                    "bawaba: audit.checkpoint_key_file {} does not exist; the log holds no signed checkpoint",
                    settings.audit.checkpoint_key_file.display()
                );
            }
            Err(e) => {
                return fail(format!(
                    "audit.checkpoint_key_file {}: {e} (or pass --public-key FILE)",
                    settings.audit.checkpoint_key_file.display()
                ));
            }
        }
        match crate::app::trusted_keys(&settings, None) {
            Ok(more) => trusted.extend(more),
            Err(e) => return fail(e),
        }
    }
    for path in &public_keys {
        let added = std::fs::read_to_string(path).map_err(anyhow::Error::from).and_then(|pem| trusted.add_pem(&pem));
        if let Err(e) = added {
            return fail(format!("--public-key {}: {e}", path.display()));
        }
    }
    let mut broken = false;
    let mut expected_next: Option<i64> = None;
    for path in &archives {
        match verify_archive(path, &trusted) {
            Ok(a) => {
                print_report(&format!("archive {}", path.display()), &a.report);
                broken |= !a.report.ok;
                if let Some(next) = expected_next
                    && a.from_seq != next
                {
                    println!("archive {} starts at seq {}, expected {next}", path.display(), a.from_seq);
                    broken = true;
                }
                expected_next = Some(a.through_seq + 1);
            }
            Err(e) => return fail(format!("{e:#}")),
        }
    }
    match verify_chain(&store, &trusted).await {
        Ok(r) => {
            print_report("audit chain", &r);
            broken |= !r.ok;
            if let Some(next) = expected_next {
                let first = store.events_after(0, 1).await.ok().and_then(|e| e.first().map(|e| e.seq));
                if first.is_some_and(|f| f != next) {
                    println!("the live log starts at seq {}, expected {next} after the archives", first.unwrap_or(0));
                    broken = true;
                }
            }
        }
        Err(e) => return fail(format!("cannot read the audit log: {e}")),
    }
    if broken { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `audit export`: streams matching events to a file or stdout, with a
/// progress bar on a terminal.
pub async fn export(config: Option<PathBuf>, format: String, filters: FilterArgs, output: Option<PathBuf>) -> ExitCode {
    let Some(format) = Format::parse(&format) else { return fail("--format must be csv or ndjson") };
    let filter = match filters.parse() {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let (_, store) = match open(config.as_deref()).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let total = match store.count_events(&filter).await {
        Ok(n) => n.max(0) as u64,
        Err(e) => return fail(format!("cannot read the audit log: {e}")),
    };
    let mut out: Box<dyn Write> = match &output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => return fail(format!("--output {}: {e}", path.display())),
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Drawn on stderr, and only when stderr is a terminal (indicatif's default).
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if let Some(h) = export::header(format)
        && let Err(e) = out.write_all(&h)
    {
        return fail(format!("cannot write: {e}"));
    }
    let mut pages = std::pin::pin!(export::pages(store, filter, Some(0)));
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return fail(format!("export interrupted: {e}")),
        };
        if let Err(e) = out.write_all(&export::render(format, &page)) {
            return fail(format!("cannot write: {e}"));
        }
        bar.inc(page.len() as u64);
    }
    if let Err(e) = out.flush() {
        return fail(format!("cannot write: {e}"));
    }
    bar.finish_and_clear();
    eprintln!("exported {} events", bar.position());
    ExitCode::SUCCESS
}

/// `audit archive`: moves events older than the retention period to a signed
/// archive file and removes them from the live store.
pub async fn archive(config: Option<PathBuf>, older_than_days: Option<u64>, dir: Option<PathBuf>) -> ExitCode {
    let (settings, store) = match open(config.as_deref()).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let days = older_than_days.unwrap_or(settings.audit.retention_days);
    if days == 0 && older_than_days.is_none() {
        println!("audit.retention_days is 0: everything stays in the live store");
        return ExitCode::SUCCESS;
    }
    let key = match CheckpointKey::load_or_create(&settings.audit.checkpoint_key_file) {
        Ok(k) => k,
        Err(e) => return fail(format!("{e:#}")),
    };
    let cutoff = crate::audit::format_rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(days as i64));
    let dir = dir.unwrap_or(settings.audit.archive_dir.clone());
    match archive::archive(&store, &key, &cutoff, &dir).await {
        Ok(Some(a)) => {
            println!(
                "archived events {}..={} ({} events) to {}; removed from the live store",
                a.from_seq,
                a.through_seq,
                a.events,
                a.file.display()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("nothing signed before {cutoff} to archive");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("archive failed, nothing removed: {e:#}")),
    }
}

/// `audit report`: the month's statistics per center and its signals.
pub async fn report(
    config: Option<PathBuf>,
    month: String,
    format: String,
    center_id: Option<String>,
    governorate: Option<String>,
    output: Option<PathBuf>,
) -> ExitCode {
    use crate::audit::{report, signals, stats};
    if !matches!(format.as_str(), "csv" | "html") {
        return fail("--format must be csv or html");
    }
    if let Some(g) = &governorate
        && !crate::audit::AuditFilter::is_governorate_code(g)
    {
        return fail(format!("--governorate {}", crate::audit::AuditFilter::GOVERNORATE_REASON));
    }
    let Some((from, to)) = report::month_window(&month) else { return fail("--month must be YYYY-MM") };
    let (settings, store) = match open(config.as_deref()).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let clients = match crate::app::load_clients(&settings) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let filter = crate::audit::AuditFilter {
        center_id: center_id.clone(),
        governorate: governorate.clone(),
        from: Some(from.clone()),
        to: Some(to.clone()),
        ..Default::default()
    };
    let group_by = [stats::GroupBy::Center];
    let cells = match store.audit_stats(&group_by, &filter).await {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot read the audit log: {e}")),
    };
    // Calls with no center (token requests, auditors' queries) are not a center's.
    let rows: Vec<stats::StatsRow> = stats::aggregate(&group_by, cells)
        .into_iter()
        .filter(|r| r.group.get("center_id").is_some_and(|c| c.is_some()))
        .collect();
    let rules = signals::SignalRules::new(&settings.signals, &clients.clients);
    let mut found = match signals::find(&store, &rules, &from, &to).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot read the audit log: {e}")),
    };
    found.retain(|s| filter.covers_center(s.center_id.as_deref()));
    let rows = report::ranked(rows);
    let bytes = match format.as_str() {
        "csv" => match report::csv(&rows, &found) {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot write: {e}")),
        },
        _ => report::html(&month, &rows, &found).into_bytes(),
    };
    let written = match &output {
        Some(path) => std::fs::write(path, &bytes),
        None => std::io::stdout().lock().write_all(&bytes),
    };
    if let Err(e) = written {
        return fail(format!("cannot write: {e}"));
    }
    eprintln!("{} centers, {} signals", rows.len(), found.len());
    ExitCode::SUCCESS
}
