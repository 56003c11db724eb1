//! Exports of the audit log as CSV or NDJSON, in chain order, page by page:
//! memory stays constant whatever the number of events.

use super::{AuditEvent, AuditFilter};
use crate::store::{Page, Store, StoreError};
use bytes::Bytes;
use futures::Stream;

/// Events read per page of an export.
pub const PAGE: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Csv, Format::Ndjson];

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.extension() == s)
    }

    /// The media type without parameters (the OpenAPI document's content key).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// The CSV columns: the event's fields in the contract's order.
pub const CSV_COLUMNS: [&str; 16] = [
    "id",
    "seq",
    "at",
    "client_id",
    "center_id",
    "operator_id",
    "action",
    "subject",
    "purpose",
    "case_ref",
    "outcome",
    "http_status",
    "cache",
    "duration_ms",
    "prev_hash",
    "hash",
];

/// A spreadsheet runs a cell that starts with one of these as a formula; an
/// operator id or case reference is client input, so such cells get a
/// leading apostrophe (OWASP "CSV injection"). The NDJSON export is byte-exact.
fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn csv_record(w: &mut csv::Writer<Vec<u8>>, e: &AuditEvent) -> csv::Result<()> {
    let opt = |v: &Option<String>| v.as_deref().map(defuse).unwrap_or_default().into_owned();
    w.write_record([
        defuse(&e.id).into_owned(),
        e.seq.to_string(),
        e.at.clone(),
        opt(&e.client_id),
        opt(&e.center_id),
        opt(&e.operator_id),
        e.action.as_str().to_owned(),
        opt(&e.subject),
        opt(&e.purpose),
        opt(&e.case_ref),
        defuse(&e.outcome).into_owned(),
        e.http_status.to_string(),
        e.cache.as_str().to_owned(),
        e.duration_ms.to_string(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ])
}

/// The header (CSV only).
pub fn header(format: Format) -> Option<Bytes> {
    match format {
        Format::Csv => Some(Bytes::from(CSV_COLUMNS.join(",") + "\r\n")),
        Format::Ndjson => None,
    }
}

/// One page of events in `format`.
pub fn render(format: Format, events: &[AuditEvent]) -> Bytes {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
            for e in events {
                // Writing to a Vec cannot fail.
                let _ = csv_record(&mut w, e);
            }
            Bytes::from(w.into_inner().unwrap_or_default())
        }
        Format::Ndjson => {
            let mut out = Vec::with_capacity(events.len() * 400);
            for e in events {
                let _ = serde_json::to_writer(&mut out, e);
                out.push(b'\n');
            }
            Bytes::from(out)
        }
    }
}

/// The events matching `filter` in chain order after `after` (None: the
/// end was already reached), one page at a time.
pub fn pages(
    store: Store,
    filter: AuditFilter,
    after: Option<i64>,
) -> impl Stream<Item = Result<Vec<AuditEvent>, StoreError>> {
    futures::stream::try_unfold(after, move |after| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let Some(after) = after else { return Ok(None) };
            let events = store.query_events(&filter, Page::OldestFirst { after }, PAGE).await?;
            if events.is_empty() {
                return Ok(None);
            }
            let next = (events.len() == PAGE as usize).then(|| events.last().map(|e| e.seq)).flatten();
            Ok(Some((events, next)))
        }
    })
}

/// The first page of an export: read before the answer starts, so that a
/// store that cannot answer gets a 503 rather than a truncated file.
pub async fn first_page(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
    store.query_events(filter, Page::OldestFirst { after: 0 }, PAGE).await
}

/// The whole export as a byte stream: header, the first page, then page after page.
pub fn stream(
    store: Store,
    filter: AuditFilter,
    format: Format,
    first: Vec<AuditEvent>,
) -> impl Stream<Item = Result<Bytes, StoreError>> {
    use futures::StreamExt;
    let after = (first.len() == PAGE as usize).then(|| first.last().map(|e| e.seq)).flatten();
    let head = futures::stream::iter(header(format).into_iter().chain([render(format, &first)]).map(Ok));
    head.chain(pages(store, filter, after).map(move |page| page.map(|events| render(format, &events))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, CacheUse};

    fn event(operator: &str) -> AuditEvent {
        AuditEvent {
            id: "0194".into(),
            seq: 7,
            at: "2026-11-22T10:00:00.000000Z".into(),
            client_id: Some("center-demo".into()),
            center_id: Some("SHR-ZAG-01".into()),
            operator_id: Some(operator.into()),
            action: Action::NationalIdVerify,
            subject: Some("29001011234567".into()),
            purpose: None,
            case_ref: Some("a,b\"c".into()),
            outcome: "match".into(),
            http_status: 200,
            cache: CacheUse::Hit,
            duration_ms: 3,
            prev_hash: "p".into(),
            hash: "h".into(),
        }
    }

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let text = String::from_utf8(render(Format::Csv, &[event("=HYPERLINK(\"x\")")]).to_vec()).unwrap();
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
        assert!(text.contains("\"a,b\"\"c\""), "{text}");
        assert_eq!(text.matches(',').count() - 1, 15, "16 columns (one comma is inside a quoted cell): {text}");
    }

    #[test]
    fn ndjson_is_one_event_per_line() {
        let text = String::from_utf8(render(Format::Ndjson, &[event("EMP-1"), event("EMP-2")]).to_vec()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["operator_id"], "EMP-2");
    }
}
