//! W3C Trace Context (CONTRACT §14): a well-formed `traceparent` is taken up,
//! anything else (absent, malformed, oversized, repeated) starts a new trace.
//! The request runs in a `request` span carrying the trace id, so every log
//! line it writes names its trace; registry calls carry a `traceparent` whose
//! parent is this gateway's span. The audit event never holds either.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

/// A trace context: the trace, this gateway's span in it, and the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
    pub flags: String,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Random ids from the thread's CSPRNG (ChaCha, seeded from the OS), not a
/// `getrandom` system call per id: two ids per request were two of its
/// four calls into the kernel for randomness.
fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buf = vec![0u8; bytes];
    // Never all zeros (an invalid id).
    while buf.iter().all(|b| *b == 0) {
        rand::rng().fill_bytes(&mut buf);
    }
    hex::encode(buf)
}

/// The caller's trace id and flags from a `traceparent` value, if it is valid
/// (W3C Trace Context §3.2: version 00 exactly, a later version by its first
/// four fields; lowercase hex; no all-zero ids; version ff is invalid).
pub fn parse(value: &str) -> Option<(String, String)> {
    if value.len() < 55 {
        return None;
    }
    let head = value.get(..55)?;
    let mut parts = head.split('-');
    let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_hex(version, 2) || version == "ff" {
        return None;
    }
    let rest = &value[55..];
    if version == "00" && !rest.is_empty() || version != "00" && !rest.is_empty() && !rest.starts_with('-') {
        return None;
    }
    if !is_hex(trace_id, 32) || !is_hex(parent_id, 16) || !is_hex(flags, 2) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((trace_id.to_owned(), flags.to_owned()))
}

impl TraceContext {
    /// The caller's trace continued, or a new one.
    pub fn from_header(values: &[&str]) -> TraceContext {
        let continued = match values {
            [one] => parse(one),
            _ => None,
        };
        let (trace_id, flags) = continued.unwrap_or_else(|| (random_hex(16), "00".to_owned()));
        TraceContext { trace_id, span_id: random_hex(8), flags }
    }

    /// The `traceparent` registry calls carry: this gateway's span as parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// With trace export on: the request's exported span joined to the caller's
/// trace (or a new one), and its ids as this gateway's trace context.
fn exported(span: &tracing::Span, values: &[&str]) -> Option<TraceContext> {
    let parent = match values {
        [one] => parse(one).map(|(trace_id, flags)| (trace_id, one[36..52].to_owned(), flags)),
        _ => None,
    };
    let parent = parent.as_ref().map(|(t, p, f)| (t.as_str(), p.as_str(), f.as_str()));
    let (trace_id, span_id, flags) = crate::otlp::join(span, parent)?;
    Some(TraceContext { trace_id, span_id, flags })
}

pub async fn traced(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let values: Vec<&str> = req.headers().get_all("traceparent").map(|v| v.to_str().unwrap_or_default()).collect();
    let request_id = req.extensions().get::<super::context::RequestContext>().map(|c| c.id.clone()).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        request_id = %request_id
    );
    let trace = if crate::otlp::exporting() { exported(&span, &values) } else { None }
        .unwrap_or_else(|| TraceContext::from_header(&values));
    span.record("trace_id", trace.trace_id.as_str());
    span.record("span_id", trace.span_id.as_str());
    let traceparent = trace.traceparent();
    req.extensions_mut().insert(trace);
    connectors::trace::scope(traceparent, next.call(req).instrument(span)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_continued_with_a_span_of_its_own() {
        let t = TraceContext::from_header(&[VALID]);
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.flags, "01");
        assert_ne!(t.span_id, "00f067aa0ba902b7");
        assert!(parse(&t.traceparent()).is_some());
        // A later version with more fields is read by its first four.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_some());
    }

    #[test]
    fn anything_else_starts_a_new_trace() {
        let big = format!("{VALID}{}", "x".repeat(10_000));
        for bad in [
            "",
            "garbage",
            &VALID.to_uppercase(),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            big.as_str(),
        ] {
            assert_eq!(parse(bad), None, "{bad:.80}");
            let t = TraceContext::from_header(&[bad]);
            assert_ne!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
            assert!(parse(&t.traceparent()).is_some(), "a new, valid trace");
        }
        let two = TraceContext::from_header(&[VALID, VALID]);
        assert_ne!(two.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "repeated: ambiguous");
    }
}
