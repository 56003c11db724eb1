//! Simulator of the SMSC for short code 5960 (`schemas/upstream/smsc.schema.json`).
//!
//! Submissions (`POST /smsc/v1/messages`) are idempotent on `client_ref`:
//! each accepted submission is recorded once and, 100–300 ms later (fixed by
//! the `client_ref`), its delivery report is posted, signed, to
//! `{gateway}/v1/sms/delivery-reports`: `undelivered` (`ABSENT_SUBSCRIBER`)
//! for a number ending in `99`, `delivered` otherwise. The post is tried up
//! to [`REPORT_ATTEMPTS`] times, with a doubling pause from
//! [`FIRST_RETRY_PAUSE`], while the gateway cannot be reached or answers 5xx
//! or 429.
//!
//! Admin (not counted, never faulted): `GET /_smsc/messages[?to=E164]` lists
//! the accepted submissions; `POST /_smsc/inbound {"from", "text"}` posts a
//! signed inbound message to `{gateway}/v1/sms/inbound` once and answers
//! with the gateway's status.
//!
//! Everything is kept in memory, for the most recent [`REMEMBERED`]
//! submissions: a restarted sandbox has forgotten earlier ones.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use super::security::{now_ms, rfc3339};
use super::{Body, SmscCallback, json, json_error, read_body};
use crate::rest::error_body;
use crate::smsc::codec;
use crate::smsc::{DELIVERED, DeliveryReport, InboundMessage, SIGNATURE_HEADER, Submission, UNDELIVERED, sign};

/// Every path under this prefix belongs to the SMSC's API.
pub(super) const PREFIX: &str = "/smsc/";
/// Every path under this prefix is an SMSC admin endpoint.
pub(super) const ADMIN_PREFIX: &str = "/_smsc/";
const MESSAGES_ADMIN_PATH: &str = "/_smsc/messages";
const INBOUND_ADMIN_PATH: &str = "/_smsc/inbound";
/// The error code of a delivery report for a number ending in `99`.
pub const UNDELIVERED_ERROR: &str = "ABSENT_SUBSCRIBER";
/// How many submissions are remembered (for idempotency and the listing).
pub(super) const REMEMBERED: usize = 100_000;
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// A delivery report is posted this long after the submission, at the least…
const MIN_REPORT_DELAY_MS: u64 = 100;
/// …and at the most.
const MAX_REPORT_DELAY_MS: u64 = 300;
/// How many times a delivery report is posted before the SMSC gives up.
pub(super) const REPORT_ATTEMPTS: u32 = 5;
/// The pause before the first repeated post; it doubles each time after.
pub(super) const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long one post to the gateway may take.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// One accepted submission.
struct Accepted {
    smsc_id: String,
    submission: Submission,
    received_at: String,
}

#[derive(Default)]
struct Store {
    by_client_ref: HashMap<String, String>,
    log: VecDeque<Accepted>,
}

/// The simulated SMSC (one per sandbox): where it calls the gateway, what it
/// has accepted, and its HTTP client for the calls.
#[derive(Default)]
pub(super) struct Centre {
    callback: RwLock<Option<SmscCallback>>,
    store: Mutex<Store>,
    client: OnceLock<Option<reqwest::Client>>,
}

impl std::fmt::Debug for Centre {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Centre")
            .field("callback", &self.callback())
            .field("accepted", &self.store().log.len())
            .finish_non_exhaustive()
    }
}

/// Why a post to the gateway did not get an answer.
#[derive(Debug)]
struct Unreachable;

impl Centre {
    pub fn new(callback: Option<SmscCallback>) -> Self {
        Centre { callback: RwLock::new(callback), ..Centre::default() }
    }

    pub fn callback(&self) -> Option<SmscCallback> {
        self.callback.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set_callback(&self, callback: SmscCallback) {
        *self.callback.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(callback);
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client for calls to the gateway, built on first use. It ignores
    /// proxy settings: the gateway is reached directly.
    fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| match reqwest::Client::builder().no_proxy().timeout(CALLBACK_TIMEOUT).build() {
                Ok(client) => Some(client),
                Err(err) => {
                    tracing::warn!(error = %err, "the SMSC simulator cannot build an HTTP client");
                    None
                }
            })
            .as_ref()
    }

    /// Posts `body` signed to `{gateway}{path}`; the gateway's status.
    async fn post_signed(&self, callback: &SmscCallback, path: &str, body: &[u8]) -> Result<u16, Unreachable> {
        let client = self.client().ok_or(Unreachable)?;
        let header = sign(&callback.secret, now_ms() / 1_000, body);
        let response = client
            .post(format!("{}{path}", callback.gateway_base_url.trim_end_matches('/')))
            .header(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(SIGNATURE_HEADER, header)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|_| Unreachable)?;
        Ok(response.status().as_u16())
    }

    /// Records a new submission; `(smsc_id, duplicate)`.
    fn accept(&self, submission: Submission) -> (String, bool) {
        let mut store = self.store();
        if let Some(known) = store.by_client_ref.get(&submission.client_ref) {
            return (known.clone(), true);
        }
        let smsc_id = next_id("SM");
        if store.log.len() >= REMEMBERED
            && let Some(oldest) = store.log.pop_front()
        {
            store.by_client_ref.remove(&oldest.submission.client_ref);
        }
        store.by_client_ref.insert(submission.client_ref.clone(), smsc_id.clone());
        let received_at = rfc3339(now_ms()).unwrap_or_default();
        store.log.push_back(Accepted { smsc_id: smsc_id.clone(), submission, received_at });
        (smsc_id, false)
    }
}

/// A fresh message id: the prefix, the time in milliseconds and a
/// process-wide sequence number, all hex.
fn next_id(prefix: &str) -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{:012x}{sequence:08x}", now_ms())
}

/// The pause before a delivery report, the same for the same `client_ref`.
fn report_delay(client_ref: &str) -> Duration {
    let hash =
        client_ref.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    Duration::from_millis(MIN_REPORT_DELAY_MS + hash % (MAX_REPORT_DELAY_MS - MIN_REPORT_DELAY_MS + 1))
}

/// The report the network sends for a message to `to`.
fn outcome_for(to: &str) -> (&'static str, Option<String>) {
    if to.ends_with("99") { (UNDELIVERED, Some(UNDELIVERED_ERROR.to_owned())) } else { (DELIVERED, None) }
}

/// Waits, then posts the delivery report of one accepted submission.
async fn report(centre: Arc<Centre>, smsc_id: String, client_ref: String, to: String) {
    tokio::time::sleep(report_delay(&client_ref)).await;
    let (status, error) = outcome_for(&to);
    let report = DeliveryReport {
        smsc_id,
        client_ref,
        status: status.to_owned(),
        at: rfc3339(now_ms()).unwrap_or_default(),
        error,
    };
    let Ok(body) = serde_json::to_vec(&report) else {
        return;
    };
    let mut pause = FIRST_RETRY_PAUSE;
    for attempt in 1..=REPORT_ATTEMPTS {
        // Read on every attempt: the gateway may have been configured since.
        let Some(callback) = centre.callback() else {
            tracing::debug!("SMSC simulator: no gateway callback, delivery report dropped");
            return;
        };
        match centre.post_signed(&callback, codec::DELIVERY_REPORTS_PATH, &body).await {
            Ok(status) if (200..300).contains(&status) => return,
            Ok(status) if status >= 500 || status == 429 => {
                tracing::debug!(status, attempt, "SMSC simulator: the gateway failed a delivery report");
            }
            Ok(status) => {
                tracing::warn!(status, "SMSC simulator: the gateway refused a delivery report");
                return;
            }
            Err(Unreachable) => tracing::debug!(attempt, "SMSC simulator: the gateway is unreachable"),
        }
        if attempt < REPORT_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    tracing::warn!(attempts = REPORT_ATTEMPTS, "SMSC simulator: delivery report given up");
}

/// A wrong method on the SMSC's API: the protocol's error envelope.
fn api_method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json(StatusCode::METHOD_NOT_ALLOWED, &error_body("METHOD_NOT_ALLOWED", "method not allowed"));
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// `POST /smsc/v1/messages`
async fn submit(centre: &Arc<Centre>, request: Request<Incoming>) -> Response<Body> {
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return json(StatusCode::BAD_REQUEST, &error_body("INVALID_REQUEST", "body missing or too large"));
    };
    let Ok(submission) = codec::parse_submission(&body) else {
        return json(
            StatusCode::BAD_REQUEST,
            &error_body(
                "INVALID_REQUEST",
                "expected {client_ref: UUID, from: \"5960\", to: E.164, text: 1-1600 characters, \
                 encoding: gsm7|ucs2, segments: 1-255}",
            ),
        );
    };
    let client_ref = submission.client_ref.clone();
    let to = submission.to.clone();
    let (smsc_id, duplicate) = centre.accept(submission);
    if duplicate {
        return json(StatusCode::OK, &codec::build_ack_answer(&smsc_id, &client_ref, true));
    }
    let answer = codec::build_ack_answer(&smsc_id, &client_ref, false);
    tokio::spawn(report(Arc::clone(centre), smsc_id, client_ref, to));
    json(StatusCode::ACCEPTED, &answer)
}

/// Every request under [`PREFIX`].
pub(super) async fn handle(centre: &Arc<Centre>, request: Request<Incoming>) -> Response<Body> {
    if request.uri().path() != codec::MESSAGES_PATH {
        return json(StatusCode::NOT_FOUND, &error_body("UNKNOWN_PATH", "no such resource"));
    }
    match *request.method() {
        Method::POST => submit(centre, request).await,
        _ => api_method_not_allowed("POST"),
    }
}

/// `GET /_smsc/messages[?to=E164]`: the accepted submissions, oldest first.
fn list(centre: &Centre, query: Option<&str>) -> Response<Body> {
    let mut to = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "to" {
            continue;
        }
        match percent_encoding::percent_decode_str(value).decode_utf8() {
            Ok(number) if codec::is_e164(&number) => to = Some(number.into_owned()),
            _ => return json_error(StatusCode::BAD_REQUEST, "to must be an E.164 number such as +201001234567"),
        }
    }
    let store = centre.store();
    let messages: Vec<serde_json::Value> = store
        .log
        .iter()
        .filter(|m| to.as_deref().is_none_or(|to| m.submission.to == to))
        .map(|m| {
            serde_json::json!({
                "id": m.smsc_id,
                "client_ref": m.submission.client_ref,
                "from": m.submission.from,
                "to": m.submission.to,
                "text": m.submission.text,
                "encoding": m.submission.encoding.as_str(),
                "segments": m.submission.segments,
                "received_at": m.received_at,
            })
        })
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "messages": messages }))
}

/// The body of `POST /_smsc/inbound`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundRequest {
    from: String,
    text: String,
}

/// `POST /_smsc/inbound`: a citizen texts the short code.
async fn inbound(centre: &Centre, request: Request<Incoming>) -> Response<Body> {
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return json_error(StatusCode::BAD_REQUEST, "body missing or too large");
    };
    let valid = serde_json::from_slice::<InboundRequest>(&body)
        .ok()
        .filter(|r| codec::is_e164(&r.from) && codec::text_is_acceptable(&r.text));
    let Some(request) = valid else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected {from: E.164 number such as +201001234567, text: 1-1600 characters}",
        );
    };
    let Some(callback) = centre.callback() else {
        return json_error(StatusCode::CONFLICT, "no gateway is configured to receive inbound messages");
    };
    let message = InboundMessage {
        smsc_id: next_id("MO"),
        from: request.from,
        to: codec::SHORT_CODE.to_owned(),
        text: request.text,
        received_at: rfc3339(now_ms()).unwrap_or_default(),
    };
    let Ok(body) = serde_json::to_vec(&message) else {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the inbound message could not be written");
    };
    match centre.post_signed(&callback, codec::INBOUND_PATH, &body).await {
        Ok(status) => {
            json(StatusCode::OK, &serde_json::json!({ "gateway_status": status, "smsc_id": message.smsc_id }))
        }
        Err(Unreachable) => json_error(StatusCode::BAD_GATEWAY, "the gateway could not be reached"),
    }
}

/// Every request under [`ADMIN_PREFIX`].
pub(super) async fn admin(centre: &Centre, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    match (path.as_str(), request.method().clone()) {
        (MESSAGES_ADMIN_PATH, Method::GET) => list(centre, request.uri().query()),
        (MESSAGES_ADMIN_PATH, _) => super::method_not_allowed("GET"),
        (INBOUND_ADMIN_PATH, Method::POST) => inbound(centre, request).await,
        (INBOUND_ADMIN_PATH, _) => super::method_not_allowed("POST"),
        _ => json_error(StatusCode::NOT_FOUND, "no such path"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smsc::SmsEncoding;

    fn submission(client_ref: &str) -> Submission {
        Submission {
            client_ref: client_ref.into(),
            from: "5960".into(),
            to: "+201001234567".into(),
            text: "received".into(),
            encoding: SmsEncoding::Gsm7,
            segments: 1,
        }
    }

    #[test]
    fn a_client_ref_is_accepted_once() {
        let centre = Centre::default();
        let (first, duplicate) = centre.accept(submission("0190c1a2-7b3e-7c44-9a55-000000000001"));
        assert!(!duplicate);
        assert_eq!(centre.accept(submission("0190c1a2-7b3e-7c44-9a55-000000000001")), (first.clone(), true));
        let (other, duplicate) = centre.accept(submission("0190c1a2-7b3e-7c44-9a55-000000000002"));
        assert!(!duplicate && other != first);
        assert_eq!(centre.store().log.len(), 2);
    }

    #[test]
    fn message_ids_are_unique_and_well_formed() {
        let ids: std::collections::HashSet<String> = (0..1_000).map(|_| next_id("SM")).collect();
        assert_eq!(ids.len(), 1_000);
        assert!(ids.iter().all(|id| codec::smsc_id_is_well_formed(id) && id.starts_with("SM-")));
    }

    #[test]
    fn the_report_delay_is_between_100_and_300_ms_and_fixed_by_the_client_ref() {
        for i in 0..1_000u32 {
            let client_ref = format!("0190c1a2-7b3e-7c44-9a55-{i:012}");
            let delay = report_delay(&client_ref);
            assert!((Duration::from_millis(100)..=Duration::from_millis(300)).contains(&delay), "{delay:?}");
            assert_eq!(report_delay(&client_ref), delay);
        }
    }

    #[test]
    fn numbers_ending_in_99_are_undelivered() {
        assert_eq!(outcome_for("+201001234599"), (UNDELIVERED, Some(UNDELIVERED_ERROR.to_owned())));
        assert_eq!(outcome_for("+201001234598"), (DELIVERED, None));
        assert_eq!(outcome_for("+201001239909"), (DELIVERED, None));
    }

    #[test]
    fn the_centre_never_prints_the_secret_or_the_messages() {
        let centre = Centre::new(Some(SmscCallback {
            gateway_base_url: "http://127.0.0.1:8080".into(),
            secret: "smsc-demo-secret".into(),
        }));
        centre.accept(submission("0190c1a2-7b3e-7c44-9a55-000000000003"));
        let printed = format!("{centre:?}");
        assert!(!printed.contains("smsc-demo-secret") && !printed.contains("201001234567"), "{printed}");
    }
}
