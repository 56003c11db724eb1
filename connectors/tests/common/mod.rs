//! Starts a sandbox on 127.0.0.1:0 and talks to it over loopback.
#![allow(dead_code)] // each test binary uses its own part of this

use std::net::SocketAddr;

use connectors::national_id::NationalIdRegistry;
use connectors::sandbox::Sandbox;
use serde_json::Value;

pub struct RunningSandbox {
    pub addr: SocketAddr,
    pub base_url: String,
    pub http: reqwest::Client,
}

/// A fresh sandbox (its own faults and counters) serving on a free port until
/// the test's runtime ends.
pub async fn start_sandbox() -> RunningSandbox {
    let sandbox = Sandbox::new(None);
    let (addr, serve) =
        sandbox.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("the sandbox binds a free port");
    tokio::spawn(serve);
    RunningSandbox { addr, base_url: format!("http://{addr}"), http: reqwest::Client::new() }
}

impl RunningSandbox {
    pub fn registry(&self) -> NationalIdRegistry {
        NationalIdRegistry::new(self.http.clone(), &self.base_url)
    }

    pub fn registry_with(&self, client: reqwest::Client) -> NationalIdRegistry {
        NationalIdRegistry::new(client, &self.base_url)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// `POST /_faults`; returns the status and the JSON answer.
    pub async fn set_fault(&self, body: Value) -> (reqwest::StatusCode, Value) {
        let response = self.http.post(self.url("/_faults")).json(&body).send().await.expect("sandbox answers");
        let status = response.status();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn clear_faults(&self) {
        let response = self.http.delete(self.url("/_faults")).send().await.expect("sandbox answers");
        assert!(response.status().is_success());
    }

    pub async fn get_json(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("sandbox answers");
        let status = response.status();
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn national_id_requests(&self) -> u64 {
        let (_, stats) = self.get_json("/_stats").await;
        stats["requests"]["national_id"].as_u64().expect("a national_id counter")
    }
}
