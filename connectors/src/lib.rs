//! Bawaba's registry connectors.
//!
//! A connector knows one registry's wire protocol and nothing about policy: it
//! builds the request, parses the answer, and says whether a failure is
//! transient. Cache, single flight, circuit breaker, concurrency limit, retry and
//! timeouts live once in the gateway and wrap every connector alike.
//!
//! Each registry is one module (its wire types, client, error classification)
//! plus its simulator under `sandbox/`.
#![forbid(unsafe_code)]

pub mod commercial_register;
pub mod error;
mod http;
pub mod national_id;
pub mod real_estate;
pub mod rest;
pub mod sandbox;
pub mod security;
pub mod smsc;
pub mod soap;
pub mod trace;

pub use error::UpstreamError;

use std::future::Future;
use std::hash::Hash;

/// What a registry answered for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<R> {
    Found(R),
    NotFound,
}

/// One registry, seen through its wire protocol.
///
/// Implementations make exactly one upstream attempt per call: the gateway's
/// shared stack decides about retries, timeouts and caching.
pub trait Registry: Send + Sync + 'static {
    /// Stable name used in configuration, metrics, `/readyz`, `/_faults` and `/_stats`.
    const NAME: &'static str;
    /// The normalised lookup key (the cache key together with `NAME`).
    type Key: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;
    /// The registry's record as parsed from the wire.
    type Record: Clone + Send + Sync + 'static;

    fn fetch(&self, key: &Self::Key) -> impl Future<Output = Result<Lookup<Self::Record>, UpstreamError>> + Send;
}

/// Reads `YYYY-MM-DD` (an `xs:date` or JSON Schema `date` without time zone).
pub(crate) fn parse_date(value: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if value.len() != 10 {
        return None;
    }
    time::Date::parse(value, &format).ok()
}

/// Writes `YYYY-MM-DD`.
pub(crate) fn format_date(date: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}
