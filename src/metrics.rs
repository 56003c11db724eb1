//! Prometheus metrics, one registry per application instance (so tests that run
//! several gateways in one process do not share figures).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub registry_calls: IntCounterVec,
    pub registry_duration: HistogramVec,
    pub cache_lookups: IntCounterVec,
    pub circuit_state: IntGaugeVec,
    pub audit_events: IntCounter,
    pub audit_failures: IntCounter,
    pub audit_batch_size: Histogram,
    pub audit_commit_seconds: Histogram,
    pub store_up: IntGauge,
    pub sms_outbox: IntGauge,
    /// Messages by the final status they reached (see [`SMS_FINAL`]).
    pub sms_final: IntCounterVec,
    /// The signing lag of the audit chain (`audit::signing_lag`): events
    /// past the last signed checkpoint, the age of the oldest of them, and
    /// the configured `audit.checkpoint_interval_seconds` to compare it with.
    pub audit_unsigned_events: IntGauge,
    pub audit_unsigned_age: IntGauge,
    pub audit_checkpoint_interval: IntGauge,
    pub check_digit: IntCounterVec,
    pub auth_denied_unrecorded: IntCounter,
    /// Receipts issued, and verifications by result (`valid` or a refusal
    /// reason): verifying is not audited (CONTRACT §11), only counted.
    pub receipts_issued: IntCounter,
    pub receipt_verifications: IntCounterVec,
    /// External issuers: key set fetches by result, the age of the keys in
    /// use, and refused tokens by reason.
    pub oidc_jwks_fetches: IntCounterVec,
    pub oidc_jwks_key_age: IntGaugeVec,
    pub oidc_tokens_refused: IntCounterVec,
}

/// The final statuses an SMS is counted under: `delivered` and `undelivered`
/// as the SMSC's delivery reports say, `failed` when the SMSC did not accept
/// it before `sms.give_up_after_seconds`, `opted_out` when it was withheld
/// because the citizen had sent STOP (shown as `failed` by the API).
pub const SMS_FINAL: [&str; 4] = ["delivered", "undelivered", "failed", "opted_out"];

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("bawaba".into()), None).expect("valid prefix");
        macro_rules! reg {
            ($m:expr) => {{
                let m = $m.expect("valid metric");
                registry.register(Box::new(m.clone())).expect("unique metric");
                m
            }};
        }
        Metrics {
            http_requests: reg!(IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests by route and status"),
                &["route", "status"]
            )),
            http_duration: reg!(HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"]
            )),
            registry_calls: reg!(IntCounterVec::new(
                Opts::new("registry_attempts_total", "Upstream attempts by registry and result"),
                &["registry", "result"]
            )),
            registry_duration: reg!(HistogramVec::new(
                HistogramOpts::new("registry_attempt_duration_seconds", "Upstream attempt latency")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["registry"]
            )),
            cache_lookups: reg!(IntCounterVec::new(
                Opts::new(
                    "cache_lookups_total",
                    "Registry cache lookups by registry and result (hit, miss, stale, revalidate)"
                ),
                &["registry", "result"]
            )),
            circuit_state: reg!(IntGaugeVec::new(
                Opts::new("circuit_state", "Circuit state per registry: 0 closed, 1 half-open, 2 open"),
                &["registry"]
            )),
            audit_events: reg!(IntCounter::new("audit_events_total", "Audit events committed")),
            audit_failures: reg!(IntCounter::new("audit_failures_total", "Audit events whose commit failed")),
            audit_batch_size: reg!(Histogram::with_opts(
                HistogramOpts::new("audit_batch_size", "Events per group commit")
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0])
            )),
            audit_commit_seconds: reg!(Histogram::with_opts(
                HistogramOpts::new("audit_commit_seconds", "Duration of one group commit")
                    .buckets(LATENCY_BUCKETS.to_vec())
            )),
            store_up: reg!(IntGauge::new("store_up", "1 when the store takes writes")),
            sms_outbox: reg!(IntGauge::new("sms_outbox_queued", "SMS messages waiting in the outbox")),
            sms_final: {
                let c = reg!(IntCounterVec::new(
                    Opts::new(
                        "sms_final_total",
                        "SMS messages by the final status they reached: delivered, undelivered, failed, opted_out"
                    ),
                    &["status"]
                ));
                // Exported from the start, so that a share over them is never absent.
                for status in SMS_FINAL {
                    c.with_label_values(&[status]);
                }
                c
            },
            audit_unsigned_events: reg!(IntGauge::new(
                "audit_unsigned_events",
                "Audit events past the last signed checkpoint"
            )),
            audit_unsigned_age: reg!(IntGauge::new(
                "audit_unsigned_age_seconds",
                "Age of the oldest audit event not covered by a signed checkpoint (0: every event is)"
            )),
            audit_checkpoint_interval: reg!(IntGauge::new(
                "audit_checkpoint_interval_seconds",
                "audit.checkpoint_interval_seconds: the head is signed at least this often"
            )),
            check_digit: reg!(IntCounterVec::new(
                Opts::new(
                    "national_id_check_digit_total",
                    "National IDs by agreement with the unofficial candidate check digit (a soft signal only)"
                ),
                &["result"]
            )),
            auth_denied_unrecorded: reg!(IntCounter::new(
                "auth_denied_unrecorded_total",
                "401 answers not recorded in the audit log because their source exceeded its quota"
            )),
            receipts_issued: reg!(IntCounter::new("receipts_issued_total", "Signed verification receipts issued")),
            receipt_verifications: reg!(IntCounterVec::new(
                Opts::new(
                    "receipt_verifications_total",
                    "Receipt verifications by result: valid, or the reason it was refused (incl. rate_limited)"
                ),
                &["result"]
            )),
            oidc_jwks_fetches: reg!(IntCounterVec::new(
                Opts::new(
                    "oidc_jwks_fetches_total",
                    "External issuers' key set fetches by issuer and result (ok, or why it failed)"
                ),
                &["issuer", "result"]
            )),
            oidc_jwks_key_age: reg!(IntGaugeVec::new(
                Opts::new("oidc_jwks_key_age_seconds", "Age of the external issuer's keys in use (-1: none yet)"),
                &["issuer"]
            )),
            oidc_tokens_refused: reg!(IntCounterVec::new(
                Opts::new(
                    "oidc_tokens_refused_total",
                    "Tokens refused on the external-issuer path, by issuer and reason"
                ),
                &["issuer", "reason"]
            )),
            registry,
        }
    }

    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
