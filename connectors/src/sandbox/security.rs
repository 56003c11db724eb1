//! Simulator of the security directorate: asynchronous checks over JSON/REST
//! (`schemas/upstream/security.schema.json`).
//!
//! A decision arrives 1–3 s after submission (the delay is derived from the
//! reference, so the same reference always waits as long): `not_cleared`
//! for `29505058800051`, `cleared` for every other national ID.
//!
//! Tickets are sealed: they carry the submission time, the delay and the
//! verdict, encrypted and authenticated with a sandbox key, and no personal
//! data. So a ticket stays answerable after the sandbox restarts (as the
//! embedded sandbox does with the gateway), while strings the sandbox did not
//! issue are `TICKET_NOT_FOUND`. Idempotency on the reference is kept in
//! memory for the most recent submissions.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::population::SplitMix64;
use super::{Body, json, read_body};
use crate::rest::error_body;
use crate::security::codec;
use crate::security::{CheckType, Decision, Ticket};

/// Every path under this prefix belongs to the directorate.
pub(super) const PREFIX: &str = "/security/";
/// The one national ID the sandbox does not clear (DOMAIN.md).
pub const NOT_CLEARED_NATIONAL_ID: &str = "29505058800051";
/// A decision arrives this long after submission, at the least…
const MIN_DELAY_MS: u64 = 1_000;
/// …and at the most.
const MAX_DELAY_MS: u64 = 3_000;
/// How many submissions are remembered for idempotency.
const REMEMBERED: usize = 100_000;
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// The key tickets are sealed with. A sandbox key, not a secret.
const TICKET_KEY: u64 = 0x5345_4355_5249_5459;
const TICKET_PREFIX: &str = "SEC-";

/// What the directorate remembers of one submission.
#[derive(Debug)]
struct Remembered {
    ticket: Ticket,
    national_id: String,
    check_type: CheckType,
}

/// The directorate's memory of recent submissions (one per sandbox).
#[derive(Debug, Default)]
pub(super) struct Directorate {
    submissions: Mutex<Submissions>,
}

#[derive(Debug, Default)]
struct Submissions {
    by_reference: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

/// What a ticket says once opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sealed {
    submitted_at_ms: u64,
    delay_ms: u16,
    not_cleared: bool,
    salt: [u8; 3],
}

impl Sealed {
    fn to_bytes(self) -> [u8; 12] {
        let mut plain = [0u8; 12];
        plain[..6].copy_from_slice(&self.submitted_at_ms.to_be_bytes()[2..]);
        plain[6..8].copy_from_slice(&self.delay_ms.to_be_bytes());
        plain[8] = u8::from(self.not_cleared);
        plain[9..].copy_from_slice(&self.salt);
        plain
    }

    fn from_bytes(plain: [u8; 12]) -> Option<Sealed> {
        let mut at = [0u8; 8];
        at[2..].copy_from_slice(&plain[..6]);
        let not_cleared = match plain[8] {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(Sealed {
            submitted_at_ms: u64::from_be_bytes(at),
            delay_ms: u16::from_be_bytes([plain[6], plain[7]]),
            not_cleared,
            salt: [plain[9], plain[10], plain[11]],
        })
    }

    fn decided_at_ms(self) -> u64 {
        self.submitted_at_ms + u64::from(self.delay_ms)
    }
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

fn keystream(tag: u32) -> [u8; 16] {
    let mut rng = SplitMix64(TICKET_KEY ^ u64::from(tag));
    let mut stream = [0u8; 16];
    stream[..8].copy_from_slice(&rng.next().to_le_bytes());
    stream[8..].copy_from_slice(&rng.next().to_le_bytes());
    stream
}

fn tag_of(plain: &[u8; 12]) -> u32 {
    let mut mixer = SplitMix64(fnv1a(TICKET_KEY, plain));
    (mixer.next() >> 32) as u32
}

/// `SEC-` + 24 hex digits of encrypted content + 8 of authentication tag.
fn seal(sealed: Sealed) -> Ticket {
    let plain = sealed.to_bytes();
    let tag = tag_of(&plain);
    let stream = keystream(tag);
    let mut text = String::with_capacity(TICKET_PREFIX.len() + 32);
    text.push_str(TICKET_PREFIX);
    for (byte, key) in plain.iter().zip(stream) {
        text.push_str(&format!("{:02x}", byte ^ key));
    }
    text.push_str(&format!("{tag:08x}"));
    Ticket(text)
}

fn open(ticket: &str) -> Option<Sealed> {
    let hex = ticket.strip_prefix(TICKET_PREFIX)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok();
    let tag = u32::from_str_radix(&hex[24..], 16).ok()?;
    let stream = keystream(tag);
    let mut plain = [0u8; 12];
    for (i, slot) in plain.iter_mut().enumerate() {
        *slot = byte(i)? ^ stream[i];
    }
    if tag_of(&plain) != tag {
        return None;
    }
    Sealed::from_bytes(plain)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `ms` (Unix milliseconds) in RFC 3339, UTC.
pub(super) fn rfc3339(ms: u64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

/// The delay before a decision, the same for the same reference.
fn delay_for(reference: &str) -> u16 {
    let spread = MAX_DELAY_MS - MIN_DELAY_MS + 1;
    (MIN_DELAY_MS + fnv1a(0, reference.as_bytes()) % spread) as u16
}

impl Directorate {
    fn submissions(&self) -> std::sync::MutexGuard<'_, Submissions> {
        self.submissions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `POST /security/v1/checks`
    async fn submit(&self, request: Request<Incoming>) -> Response<Body> {
        let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
            return json(StatusCode::BAD_REQUEST, &error_body("INVALID_REQUEST", "body missing or too large"));
        };
        let Ok(submission) = codec::parse_submission(&body) else {
            return json(
                StatusCode::BAD_REQUEST,
                &error_body(
                    "INVALID_REQUEST",
                    "expected {reference: UUID, national_id: 14 digits, check_type: shop_license|employment|general}",
                ),
            );
        };
        let mut submissions = self.submissions();
        if let Some(known) = submissions.by_reference.get(&submission.reference) {
            if known.national_id != submission.national_id || known.check_type != submission.check_type {
                return json(
                    StatusCode::CONFLICT,
                    &error_body(codec::REFERENCE_CONFLICT, "this reference was submitted with other content"),
                );
            }
            return json(StatusCode::OK, &codec::build_ticket_answer(&known.ticket, &submission.reference));
        }
        let hash = fnv1a(1, submission.reference.as_bytes()).to_be_bytes();
        let ticket = seal(Sealed {
            submitted_at_ms: now_ms(),
            delay_ms: delay_for(&submission.reference),
            not_cleared: submission.national_id == NOT_CLEARED_NATIONAL_ID,
            salt: [hash[0], hash[1], hash[2]],
        });
        let answer = codec::build_ticket_answer(&ticket, &submission.reference);
        if submissions.order.len() >= REMEMBERED
            && let Some(oldest) = submissions.order.pop_front()
        {
            submissions.by_reference.remove(&oldest);
        }
        submissions.order.push_back(submission.reference.clone());
        submissions.by_reference.insert(
            submission.reference,
            Remembered { ticket, national_id: submission.national_id, check_type: submission.check_type },
        );
        json(StatusCode::ACCEPTED, &answer)
    }
}

/// `GET /security/v1/checks/{ticket}`
fn status(ticket_segment: &str) -> Response<Body> {
    let ticket = percent_encoding::percent_decode_str(ticket_segment).decode_utf8_lossy().into_owned();
    let Some(sealed) = open(&ticket) else {
        return json(StatusCode::NOT_FOUND, &error_body(codec::TICKET_NOT_FOUND, "no check has this ticket"));
    };
    let ticket = Ticket(ticket);
    let decided_at = sealed.decided_at_ms();
    if now_ms() < decided_at {
        return json(StatusCode::OK, &codec::build_status_answer(&ticket, Decision::Pending, None));
    }
    let decision = if sealed.not_cleared { Decision::NotCleared } else { Decision::Cleared };
    json(StatusCode::OK, &codec::build_status_answer(&ticket, decision, rfc3339(decided_at).as_deref()))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json(StatusCode::METHOD_NOT_ALLOWED, &error_body("METHOD_NOT_ALLOWED", "method not allowed"));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// Every request under [`PREFIX`].
pub(super) async fn handle(directorate: &Directorate, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if path == codec::CHECKS_PATH {
        return match *request.method() {
            Method::POST => directorate.submit(request).await,
            _ => method_not_allowed("POST"),
        };
    }
    match path.strip_prefix(codec::CHECKS_PATH).and_then(|rest| rest.strip_prefix('/')) {
        Some(ticket) if !ticket.is_empty() && !ticket.contains('/') => match *request.method() {
            Method::GET => status(ticket),
            _ => method_not_allowed("GET"),
        },
        _ => json(StatusCode::NOT_FOUND, &error_body("UNKNOWN_PATH", "no such resource")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Sealed {
        Sealed { submitted_at_ms: 1_767_600_000_123, delay_ms: 2_345, not_cleared: true, salt: [1, 2, 3] }
    }

    #[test]
    fn a_sealed_ticket_opens_to_what_was_sealed() {
        let ticket = seal(sealed());
        assert!(ticket.is_well_formed());
        assert_eq!(ticket.0.len(), 36);
        assert_eq!(open(&ticket.0), Some(sealed()));
        let cleared = Sealed { not_cleared: false, ..sealed() };
        assert_eq!(open(&seal(cleared).0), Some(cleared));
    }

    #[test]
    fn a_ticket_does_not_show_its_verdict_or_time() {
        let a = seal(sealed());
        let b = seal(Sealed { not_cleared: false, ..sealed() });
        let differing = a.0.bytes().zip(b.0.bytes()).filter(|(x, y)| x != y).count();
        assert!(differing > 16, "{a:?} {b:?}");
    }

    #[test]
    fn altered_or_invented_tickets_do_not_open() {
        let ticket = seal(sealed()).0;
        for i in TICKET_PREFIX.len()..ticket.len() {
            let mut altered = ticket.clone().into_bytes();
            altered[i] = if altered[i] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(altered).expect("ascii");
            assert_eq!(open(&altered), None, "{altered}");
        }
        for invented in ["", "SEC-", "SEC-0123", "does-not-exist", &ticket.to_uppercase(), &ticket[4..]] {
            assert_eq!(open(invented), None, "{invented}");
        }
    }

    #[test]
    fn the_delay_is_between_one_and_three_seconds_and_fixed_by_the_reference() {
        for i in 0..1_000u32 {
            let reference = format!("0190c1a2-7b3e-7c44-9a55-{i:012}");
            let delay = u64::from(delay_for(&reference));
            assert!((MIN_DELAY_MS..=MAX_DELAY_MS).contains(&delay), "{delay}");
            assert_eq!(delay_for(&reference), delay_for(&reference));
        }
    }

    #[test]
    fn decision_times_are_written_in_rfc_3339_utc() {
        assert_eq!(rfc3339(1_767_600_002_500).as_deref(), Some("2026-01-05T08:00:02.5Z"));
    }
}
