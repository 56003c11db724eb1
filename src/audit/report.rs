//! The monthly center report an inspector takes to a visit (`bawaba audit
//! report --month YYYY-MM --format csv|html`): the month's statistics per
//! center (the rows of `/v1/audit/stats?group_by=center`, ranked by calls)
//! and the signals of each center, as CSV or as one self-contained HTML page
//! (Arabic first, right to left, with English).

use super::signals::{Signal, SignalKind};
use super::stats::StatsRow;
use std::fmt::Write;

/// The month's window: `[first day, first day of the next month)`, RFC 3339.
pub fn month_window(month: &str) -> Option<(String, String)> {
    let (y, m) = month.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i32, u8) = (y.parse().ok()?, m.parse().ok()?);
    let first = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, 1).ok()?;
    let next = if m == 12 {
        time::Date::from_calendar_date(y + 1, time::Month::January, 1).ok()?
    } else {
        time::Date::from_calendar_date(y, time::Month::try_from(m + 1).ok()?, 1).ok()?
    };
    let at = |d: time::Date| super::format_rfc3339(d.midnight().assume_utc());
    Some((at(first), at(next)))
}

/// Rows ranked by calls, most first (then by center).
pub fn ranked(mut rows: Vec<StatsRow>) -> Vec<StatsRow> {
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.group.cmp(&b.group)));
    rows
}

fn center(row: &StatsRow) -> &str {
    row.group.get("center_id").and_then(|c| c.as_deref()).unwrap_or("-")
}

fn signals_of<'a>(signals: &'a [Signal], row: &StatsRow) -> Vec<&'a Signal> {
    let c = row.group.get("center_id").cloned().flatten();
    signals.iter().filter(|s| s.center_id == c && c.is_some()).collect()
}

fn share(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into())
}

fn outcome(row: &StatsRow, o: &str) -> i64 {
    row.outcomes.get(o).copied().unwrap_or(0)
}

pub const CSV_HEADER: [&str; 13] = [
    "rank",
    "center_id",
    "calls",
    "verifications",
    "match",
    "mismatch",
    "not_found",
    "mismatch_share",
    "cache_hit_share",
    "cache_stale_share",
    "duration_ms_p50",
    "duration_ms_p95",
    "signals",
];

/// One line per center, ranked; shares as fractions.
pub fn csv(rows: &[StatsRow], signals: &[Signal]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let f = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for (i, r) in rows.iter().enumerate() {
        w.write_record([
            (i + 1).to_string(),
            center(r).to_owned(),
            r.total.to_string(),
            r.verifications.to_string(),
            outcome(r, "match").to_string(),
            outcome(r, "mismatch").to_string(),
            outcome(r, "not_found").to_string(),
            f(r.mismatch_share),
            f(r.cache_hit_share),
            f(r.cache_stale_share),
            r.duration_ms_p50.to_string(),
            r.duration_ms_p95.to_string(),
            signals_of(signals, r).len().to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn kind_label(kind: SignalKind) -> (&'static str, &'static str) {
    match kind {
        SignalKind::ClaimGuessing => ("تخمين بيانات", "claim guessing"),
        SignalKind::NoCaseRef => ("بدون رقم طلب", "no case reference"),
        SignalKind::OffHours => ("خارج ساعات العمل", "off hours"),
        SignalKind::ManySubjects => ("مواطنون كثيرون", "many citizens"),
        SignalKind::ManyCenters => ("مراكز كثيرة", "many centers"),
    }
}

/// A self-contained page (no script, no external resource) to print.
pub fn html(month: &str, rows: &[StatsRow], signals: &[Signal]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"ar\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
         <title>تقرير المراكز {m} · Centers report {m}</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}\
         th,td{{border:1px solid #999;padding:.3em .6em;text-align:start}}.en{{color:#555;font-size:.85em}}\
         </style></head><body><h1>تقرير المراكز الشهري — {m} <span class=\"en\" lang=\"en\" dir=\"ltr\">Monthly centers report</span></h1>\
         <p>الإشارات أدلة للمراجعة، وليست أحكامًا. <span class=\"en\" lang=\"en\">Signals are leads to review, never verdicts.</span></p>",
        m = escape(month)
    );
    h.push_str(
        "<table><thead><tr><th>الترتيب<div class=en>rank</div></th><th>المركز<div class=en>center</div></th>\
         <th>العمليات<div class=en>calls</div></th><th>عمليات التحقق<div class=en>verifications</div></th>\
         <th>نسبة عدم التطابق<div class=en>mismatch share</div></th><th>من الذاكرة المؤقتة<div class=en>cache hits</div></th>\
         <th>المدة p50 / p95 (مللي ثانية)<div class=en>duration ms</div></th><th>الإشارات<div class=en>signals</div></th></tr></thead><tbody>",
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td></tr>",
            i + 1,
            escape(center(r)),
            r.total,
            r.verifications,
            share(r.mismatch_share),
            share(r.cache_hit_share),
            r.duration_ms_p50,
            r.duration_ms_p95,
            signals_of(signals, r).len()
        );
    }
    h.push_str("</tbody></table><h2>الإشارات <span class=\"en\" lang=\"en\">Signals</span></h2>");
    if signals.is_empty() {
        h.push_str("<p>لا توجد إشارات. <span class=\"en\" lang=\"en\">No signals.</span></p>");
    } else {
        h.push_str(
            "<table><thead><tr><th>النوع<div class=en>kind</div></th><th>المركز<div class=en>center</div></th>\
             <th>الموظف<div class=en>operator</div></th><th>العدد<div class=en>count</div></th>\
             <th>من<div class=en>first</div></th><th>إلى<div class=en>last</div></th></tr></thead><tbody>",
        );
        for s in signals {
            let (ar, en) = kind_label(s.kind);
            let _ = write!(
                h,
                "<tr><td>{ar}<div class=en>{en}</div></td><td>{}</td><td>{}</td><td>{}</td><td dir=ltr>{}</td><td dir=ltr>{}</td></tr>",
                escape(s.center_id.as_deref().unwrap_or("-")),
                escape(s.operator_id.as_deref().unwrap_or("-")),
                s.count,
                escape(&s.first_at),
                escape(&s.last_at)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_its_days() {
        assert_eq!(
            month_window("2026-12"),
            Some(("2026-12-01T00:00:00.000000Z".into(), "2027-01-01T00:00:00.000000Z".into()))
        );
        assert_eq!(month_window("2026-02").unwrap().1, "2026-03-01T00:00:00.000000Z");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"] {
            assert_eq!(month_window(bad), None, "{bad}");
        }
    }

    #[test]
    fn markup_in_a_value_is_text() {
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
