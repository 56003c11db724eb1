//! The registry simulators: one real HTTP/1.1 server (hyper) that speaks each
//! registry's own wire protocol, plus the admin endpoints of the contract
//! (`/_faults`, `/_population`, `/_stats`, `/_smsc/…`). Documented in
//! `schemas/upstream/sandbox-admin.md`.
//!
//! A registry simulator is one module here (its handler) plus one line in
//! [`Sandbox::route`] and its entry in [`RegistryName`]. Every registry call
//! goes through [`Sandbox::registry_call`], which counts it and applies the
//! injected faults, so simulators only speak their protocol.

mod commercial_register;
mod faults;
mod mobiles;
mod national_id;
mod population;
mod real_estate;
mod security;
mod smsc;
mod stats;

pub use commercial_register::{CommercialRegister, register as commercial_register};
pub use population::{Population, check_digit, population};
pub use real_estate::{RealEstateRegistry, SERVER_FAULT_PREFIX, registry as real_estate};
pub use security::NOT_CLEARED_NATIONAL_ID;
pub use smsc::UNDELIVERED_ERROR;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use faults::{FaultMode, FaultTable, Planned};
use stats::Stats;

/// The body of every sandbox answer.
pub(crate) type Body = Full<Bytes>;

/// The registries the sandbox simulates, by their contract names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryName {
    NationalId,
    CommercialRegister,
    RealEstate,
    Security,
    Smsc,
}

impl RegistryName {
    pub const ALL: [RegistryName; 5] = [
        RegistryName::NationalId,
        RegistryName::CommercialRegister,
        RegistryName::RealEstate,
        RegistryName::Security,
        RegistryName::Smsc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistryName::NationalId => "national_id",
            RegistryName::CommercialRegister => "commercial_register",
            RegistryName::RealEstate => "real_estate",
            RegistryName::Security => "security",
            RegistryName::Smsc => "smsc",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        RegistryName::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The position in [`Self::ALL`] (declaration order), for per-registry arrays.
    fn index(self) -> usize {
        self as usize
    }

    /// Whether the registry speaks XML (SOAP) rather than JSON: decides what
    /// a `malformed` fault sends.
    fn speaks_xml(self) -> bool {
        matches!(self, RegistryName::NationalId | RegistryName::RealEstate)
    }
}

/// Where the simulated SMSC delivers reports and inbound messages:
/// `{gateway_base_url}/v1/sms/delivery-reports` and
/// `{gateway_base_url}/v1/sms/inbound`, signed with `secret`
/// ([`crate::smsc::sign`]).
#[derive(Clone)]
pub struct SmscCallback {
    /// The gateway's root, e.g. `http://127.0.0.1:8080`.
    pub gateway_base_url: String,
    /// Shared secret for `Bawaba-Signature`.
    pub secret: String,
}

impl std::fmt::Debug for SmscCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscCallback")
            .field("gateway_base_url", &self.gateway_base_url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The simulators' shared state: injected faults, request counters, the
/// security directorate's recent submissions and the SMSC's accepted
/// messages and gateway callback. The synthetic data is
/// process-wide ([`population()`], [`commercial_register()`],
/// [`real_estate()`]).
#[derive(Debug)]
pub struct Sandbox {
    faults: FaultTable,
    stats: Stats,
    security: security::Directorate,
    smsc: Arc<smsc::Centre>,
}

/// The service error that makes hyper drop the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (injected fault)")
    }
}

impl std::error::Error for DropConnection {}

/// How long the `timeout` fault keeps a request without answering.
const TIMEOUT_FAULT_HOLD: Duration = Duration::from_secs(60);

impl Sandbox {
    pub fn new(smsc_callback: Option<SmscCallback>) -> Arc<Self> {
        Arc::new(Sandbox {
            faults: FaultTable::default(),
            stats: Stats::default(),
            security: security::Directorate::default(),
            smsc: Arc::new(smsc::Centre::new(smsc_callback)),
        })
    }

    /// Where the SMSC simulator delivers reports and inbound messages now
    /// (a copy: it may be replaced at any time).
    pub fn smsc_callback(&self) -> Option<SmscCallback> {
        self.smsc.callback()
    }

    /// Sets or replaces where the SMSC simulator delivers reports and inbound
    /// messages. The gateway binds its API after the sandbox, so it learns its
    /// own base URL only then: keep an `Arc` of the sandbox before
    /// [`Sandbox::bind`] and call this once the API is bound. Delivery reports
    /// still waiting go to the callback in force when they are posted.
    pub fn set_smsc_callback(&self, callback: SmscCallback) {
        self.smsc.set_callback(callback);
    }

    /// Binds and returns the bound address (port 0 allowed) and a future that
    /// serves until dropped. Dropping it also closes every open connection.
    pub async fn bind(
        self: Arc<Self>,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        // Build the synthetic data off the async workers before the first lookup.
        drop(tokio::task::spawn_blocking(|| {
            population();
            commercial_register();
            real_estate();
        }));
        Ok((local, self.serve(listener)))
    }

    async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        connections.spawn(Arc::clone(&self).serve_connection(stream));
                    }
                    Err(err) => {
                        // Typically out of file descriptors: wait instead of spinning.
                        tracing::warn!(error = %err, "sandbox accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }

    async fn serve_connection(self: Arc<Self>, stream: TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "sandbox could not set TCP_NODELAY");
        }
        let service = service_fn(move |request| {
            let sandbox = Arc::clone(&self);
            async move { sandbox.route(request).await }
        });
        let served =
            http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service).await;
        if let Err(err) = served {
            tracing::debug!(error = %err, "sandbox connection ended");
        }
    }

    /// The route table. A registry is one line: its path, its name, its handler.
    async fn route(&self, request: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let response = match (path.as_str(), method) {
            // Registries.
            (national_id::PATH, Method::POST) => {
                return self.registry_call(RegistryName::NationalId, national_id::handle(request)).await;
            }
            (national_id::PATH, _) => method_not_allowed("POST"),
            (p, _) if p.starts_with(commercial_register::API_ROOT) => {
                return self
                    .registry_call(RegistryName::CommercialRegister, commercial_register::handle(request))
                    .await;
            }
            (real_estate::PATH, Method::POST) => {
                return self.registry_call(RegistryName::RealEstate, real_estate::handle(request)).await;
            }
            (real_estate::PATH, _) => method_not_allowed("POST"),
            (p, _) if p.starts_with(security::PREFIX) => {
                return self.registry_call(RegistryName::Security, security::handle(&self.security, request)).await;
            }
            (p, _) if p.starts_with(smsc::PREFIX) => {
                return self.registry_call(RegistryName::Smsc, smsc::handle(&self.smsc, request)).await;
            }
            // Admin.
            ("/_faults", Method::POST) => faults::post(&self.faults, request).await,
            ("/_faults", Method::DELETE) => faults::delete(&self.faults),
            ("/_faults", Method::GET) => faults::get(&self.faults),
            ("/_faults", _) => method_not_allowed("GET, POST, DELETE"),
            ("/_population", Method::GET) => population::list(request.uri().query()),
            ("/_population", _) => method_not_allowed("GET"),
            ("/_stats", Method::GET) => stats::get(&self.stats),
            ("/_stats", _) => method_not_allowed("GET"),
            (p, _) if p.starts_with(smsc::ADMIN_PREFIX) => smsc::admin(&self.smsc, request).await,
            _ => json_error(StatusCode::NOT_FOUND, "no such path"),
        };
        Ok(response)
    }

    /// Counts a registry call, applies the faults configured for that
    /// registry, and otherwise lets `answer` produce the response.
    async fn registry_call(
        &self,
        registry: RegistryName,
        answer: impl Future<Output = Response<Body>>,
    ) -> Result<Response<Body>, DropConnection> {
        self.stats.record(registry);
        let Planned { latency, failure } = self.faults.plan(registry);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match failure {
            None => Ok(answer.await),
            Some(FaultMode::Http503) => {
                Ok(text(StatusCode::SERVICE_UNAVAILABLE, "service unavailable (injected fault)"))
            }
            Some(FaultMode::Timeout) => {
                tokio::time::sleep(TIMEOUT_FAULT_HOLD).await;
                Err(DropConnection)
            }
            Some(FaultMode::Reset) => Err(DropConnection),
            Some(FaultMode::Malformed) => Ok(faults::malformed_answer(registry)),
        }
    }
}

// ---------------------------------------------------------------------------
// Small HTTP helpers shared by the simulators.
// ---------------------------------------------------------------------------

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", value.to_string())
}

pub(crate) fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

pub(crate) fn json_raw(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "application/json", body)
}

pub(crate) fn xml(status: StatusCode, body: String) -> Response<Body> {
    respond(status, "text/xml; charset=utf-8", body)
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// Reads a request body of at most `limit` bytes.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Option<Bytes> {
    Limited::new(body, limit).collect().await.ok().map(|collected| collected.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_round_trip_and_index_their_own_slot() {
        for (i, registry) in RegistryName::ALL.into_iter().enumerate() {
            assert_eq!(registry.index(), i);
            assert_eq!(RegistryName::parse(registry.as_str()), Some(registry));
        }
        assert_eq!(RegistryName::parse("tax"), None);
    }

    #[test]
    fn the_smsc_secret_never_prints() {
        let callback =
            SmscCallback { gateway_base_url: "http://127.0.0.1:8080".into(), secret: "smsc-demo-secret".into() };
        assert!(!format!("{callback:?}").contains("smsc-demo-secret"));
    }
}
