//! Requests received per registry since start (`/_stats`), to prove caching.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::{Response, StatusCode};

use super::{Body, RegistryName, json};

#[derive(Debug, Default)]
pub(super) struct Stats {
    requests: [AtomicU64; RegistryName::ALL.len()],
}

impl Stats {
    pub fn record(&self, registry: RegistryName) {
        self.requests[registry.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self, registry: RegistryName) -> u64 {
        self.requests[registry.index()].load(Ordering::Relaxed)
    }
}

/// `GET /_stats` → `{"requests": {"national_id": n, ...}}`, every registry listed.
pub(super) fn get(stats: &Stats) -> Response<Body> {
    let requests: serde_json::Map<String, serde_json::Value> = RegistryName::ALL
        .into_iter()
        .map(|registry| (registry.as_str().to_owned(), stats.count(registry).into()))
        .collect();
    json(StatusCode::OK, &serde_json::json!({ "requests": requests }))
}
