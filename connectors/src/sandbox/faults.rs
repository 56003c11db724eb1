//! Fault injection (`/_faults`): per registry, an added latency and a share
//! of requests that fail in one of four ways.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{Body, RegistryName, json, json_error, read_body};

/// Upper bound for `latency_ms` (ten minutes).
const MAX_LATENCY_MS: u64 = 600_000;
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// How a failing request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Answers 503.
    Http503,
    /// Never answers within 60 s, then closes the connection.
    Timeout,
    /// Closes the connection without answering.
    Reset,
    /// Answers 200 with a body that is neither valid XML nor valid JSON.
    Malformed,
}

impl FaultMode {
    const ALL: [FaultMode; 4] = [FaultMode::Http503, FaultMode::Timeout, FaultMode::Reset, FaultMode::Malformed];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Http503 => "http_503",
            FaultMode::Timeout => "timeout",
            FaultMode::Reset => "reset",
            FaultMode::Malformed => "malformed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        FaultMode::ALL.into_iter().find(|m| m.as_str() == value)
    }
}

/// The faults configured for one registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSpec {
    pub registry: RegistryName,
    pub latency_ms: u64,
    /// Share of requests that fail, 0 to 1.
    pub error_rate: f64,
    pub mode: FaultMode,
}

impl FaultSpec {
    fn to_json(self) -> serde_json::Value {
        json!({
            "registry": self.registry.as_str(),
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "mode": self.mode.as_str(),
        })
    }
}

/// What to do with one registry request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Planned {
    pub latency: Duration,
    pub failure: Option<FaultMode>,
}

/// The faults of every registry, and the random source deciding which
/// requests fail.
#[derive(Debug, Default)]
pub(super) struct FaultTable {
    specs: Mutex<[Option<FaultSpec>; RegistryName::ALL.len()]>,
    draws: AtomicU64,
}

impl FaultTable {
    fn specs(&self) -> std::sync::MutexGuard<'_, [Option<FaultSpec>; RegistryName::ALL.len()]> {
        self.specs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the registry's earlier faults, if any.
    pub fn set(&self, spec: FaultSpec) {
        self.specs()[spec.registry.index()] = Some(spec);
    }

    pub fn clear(&self) {
        *self.specs() = [None; RegistryName::ALL.len()];
    }

    fn all(&self) -> Vec<FaultSpec> {
        self.specs().iter().flatten().copied().collect()
    }

    pub fn plan(&self, registry: RegistryName) -> Planned {
        let Some(spec) = self.specs()[registry.index()] else {
            return Planned { latency: Duration::ZERO, failure: None };
        };
        let fails = spec.error_rate > 0.0 && self.draw() < spec.error_rate;
        Planned { latency: Duration::from_millis(spec.latency_ms), failure: fails.then_some(spec.mode) }
    }

    /// A uniform number in [0, 1): splitmix64 over a shared counter, so
    /// concurrent requests never draw the same number.
    fn draw(&self) -> f64 {
        let state = self.draws.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The body of `POST /_faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    registry: String,
    latency_ms: Option<u64>,
    error_rate: Option<f64>,
    mode: Option<String>,
}

/// Validates a `POST /_faults` body into the spec it sets.
fn parse_request(body: &[u8]) -> Result<FaultSpec, String> {
    let request: FaultRequest = serde_json::from_slice(body).map_err(|err| format!("invalid fault request: {err}"))?;
    let registry = RegistryName::parse(&request.registry).ok_or_else(|| {
        let known: Vec<&str> = RegistryName::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown registry; expected one of {}", known.join(", "))
    })?;
    let latency_ms = request.latency_ms.unwrap_or(0);
    if latency_ms > MAX_LATENCY_MS {
        return Err(format!("latency_ms must be at most {MAX_LATENCY_MS}"));
    }
    let mode = match request.mode.as_deref() {
        None => None,
        Some(name) => Some(FaultMode::parse(name).ok_or_else(|| {
            let known: Vec<&str> = FaultMode::ALL.iter().map(|m| m.as_str()).collect();
            format!("unknown mode; expected one of {}", known.join(", "))
        })?),
    };
    let error_rate = request.error_rate.unwrap_or(if mode.is_some() { 1.0 } else { 0.0 });
    if !(0.0..=1.0).contains(&error_rate) {
        return Err("error_rate must be between 0 and 1".into());
    }
    Ok(FaultSpec { registry, latency_ms, error_rate, mode: mode.unwrap_or(FaultMode::Http503) })
}

/// `POST /_faults`
pub(super) async fn post(table: &FaultTable, request: Request<Incoming>) -> Response<Body> {
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return json_error(StatusCode::BAD_REQUEST, "body missing or too large");
    };
    match parse_request(&body) {
        Ok(spec) => {
            table.set(spec);
            json(StatusCode::OK, &spec.to_json())
        }
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

/// `DELETE /_faults`
pub(super) fn delete(table: &FaultTable) -> Response<Body> {
    table.clear();
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `GET /_faults`
pub(super) fn get(table: &FaultTable) -> Response<Body> {
    let faults: Vec<serde_json::Value> = table.all().into_iter().map(FaultSpec::to_json).collect();
    json(StatusCode::OK, &json!({ "faults": faults }))
}

/// A 200 whose body starts like the registry's format and breaks off: neither
/// valid XML nor valid JSON.
pub(super) fn malformed_answer(registry: RegistryName) -> Response<Body> {
    if registry.speaks_xml() {
        super::xml(
            StatusCode::OK,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><Resp"
                .to_owned(),
        )
    } else {
        super::json_raw(StatusCode::OK, "{\"status\": \"ok\", \"record\": {\"id\": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_alone_fails_every_request() {
        let spec = parse_request(br#"{"registry": "national_id", "mode": "reset"}"#).unwrap();
        assert_eq!(spec.error_rate, 1.0);
        assert_eq!(spec.mode, FaultMode::Reset);
        assert_eq!(spec.latency_ms, 0);
    }

    #[test]
    fn latency_alone_fails_no_request() {
        let spec = parse_request(br#"{"registry": "smsc", "latency_ms": 250}"#).unwrap();
        assert_eq!(spec.error_rate, 0.0);
        assert_eq!(spec.latency_ms, 250);
        let table = FaultTable::default();
        table.set(spec);
        let planned = table.plan(RegistryName::Smsc);
        assert_eq!(planned.failure, None);
        assert_eq!(planned.latency, Duration::from_millis(250));
        assert_eq!(table.plan(RegistryName::NationalId).latency, Duration::ZERO);
    }

    #[test]
    fn an_error_rate_without_mode_fails_with_http_503() {
        let spec = parse_request(br#"{"registry": "security", "error_rate": 0.25}"#).unwrap();
        assert_eq!(spec.mode, FaultMode::Http503);
        assert_eq!(spec.error_rate, 0.25);
    }

    #[test]
    fn bad_fault_requests_are_refused() {
        for body in [
            &br#"{"registry": "tax"}"#[..],
            br#"{"registry": "national_id", "mode": "explode"}"#,
            br#"{"registry": "national_id", "error_rate": 1.5}"#,
            br#"{"registry": "national_id", "error_rate": -0.1}"#,
            br#"{"registry": "national_id", "latency_ms": -5}"#,
            br#"{"registry": "national_id", "latency_ms": 600001}"#,
            br#"{"registry": "national_id", "surprise": true}"#,
            br#"{"mode": "reset"}"#,
            b"not json",
        ] {
            assert!(parse_request(body).is_err(), "{} was accepted", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn half_the_requests_fail_at_error_rate_one_half() {
        let table = FaultTable::default();
        table.set(parse_request(br#"{"registry": "national_id", "error_rate": 0.5}"#).unwrap());
        let failures = (0..10_000).filter(|_| table.plan(RegistryName::NationalId).failure.is_some()).count();
        assert!((4_500..5_500).contains(&failures), "{failures} failures");
    }

    #[test]
    fn clearing_removes_every_registrys_faults() {
        let table = FaultTable::default();
        table.set(parse_request(br#"{"registry": "national_id", "mode": "timeout"}"#).unwrap());
        table.set(parse_request(br#"{"registry": "smsc", "mode": "reset"}"#).unwrap());
        assert_eq!(table.all().len(), 2);
        table.clear();
        assert!(table.all().is_empty());
        assert_eq!(table.plan(RegistryName::Smsc).failure, None);
    }
}
