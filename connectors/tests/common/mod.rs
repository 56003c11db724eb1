//! Starts a sandbox on 127.0.0.1:0 and talks to it over loopback.
#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connectors::commercial_register::CommercialRegisterRegistry;
use connectors::national_id::NationalIdRegistry;
use connectors::real_estate::RealEstateRegistry;
use connectors::sandbox::Sandbox;
use connectors::security::SecurityDirectorate;
use connectors::smsc::Smsc;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub struct RunningSandbox {
    pub addr: SocketAddr,
    pub base_url: String,
    pub http: reqwest::Client,
}

/// A fresh sandbox (its own faults and counters) serving on a free port until
/// the test's runtime ends.
pub async fn start_sandbox() -> RunningSandbox {
    serve_sandbox(Sandbox::new(None)).await
}

/// Serves this sandbox on a free port until the test's runtime ends (keep a
/// clone of the `Arc` to reach it afterwards).
pub async fn serve_sandbox(sandbox: Arc<Sandbox>) -> RunningSandbox {
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

    pub fn commercial_register(&self) -> CommercialRegisterRegistry {
        CommercialRegisterRegistry::new(self.http.clone(), &self.base_url)
    }

    pub fn real_estate(&self) -> RealEstateRegistry {
        RealEstateRegistry::new(self.http.clone(), &self.base_url)
    }

    pub fn security(&self) -> SecurityDirectorate {
        SecurityDirectorate::new(self.http.clone(), &self.base_url)
    }

    pub fn smsc(&self) -> Smsc {
        Smsc::new(self.http.clone(), &self.base_url)
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
        self.requests("national_id").await
    }

    /// The registry's counter in `/_stats`.
    pub async fn requests(&self, registry: &str) -> u64 {
        let (_, stats) = self.get_json("/_stats").await;
        stats["requests"][registry].as_u64().unwrap_or_else(|| panic!("a {registry} counter"))
    }
}

/// A client whose every request gives up after `millis`.
pub fn client_with_timeout(millis: u64) -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_millis(millis)).build().expect("client")
}

/// A base URL where nothing listens any more.
pub fn unreachable_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

/// One HTTP request as it arrived on the wire.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `METHOD target HTTP/1.1`
    pub request_line: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Serves exactly one connection on a free loopback port: records the first
/// request and answers it with `status` and `body` (JSON or XML as given).
/// Returns the base URL and the captured request once it has arrived.
pub async fn capture_one_request(
    status: u16,
    content_type: &'static str,
    body: String,
) -> (String, tokio::task::JoinHandle<Captured>) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("binds");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("a connection");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let (head_end, content_length) = loop {
            let n = stream.read(&mut buf).await.expect("reads");
            assert!(n > 0, "connection closed before a whole request");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse::<usize>().expect("a length"));
                break (end + 4, length);
            }
        };
        while raw.len() < head_end + content_length {
            let n = stream.read(&mut buf).await.expect("reads");
            assert!(n > 0, "connection closed inside the body");
            raw.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&raw[..head_end - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.expect("answers");
        Captured { request_line, headers, body: raw[head_end..head_end + content_length].to_vec() }
    });
    (format!("http://{addr}"), task)
}

/// One request the stand-in gateway received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    /// The `Bawaba-Signature` header.
    pub signature: Option<String>,
    pub body: Vec<u8>,
}

/// A stand-in for the gateway's SMS callbacks: an HTTP server on a free
/// loopback port that records every request and answers each with the next
/// scripted status (then 204 once the script is used up).
pub struct FakeGateway {
    pub base_url: String,
    received: mpsc::UnboundedReceiver<Received>,
}

impl FakeGateway {
    pub async fn start(scripted: &[u16]) -> FakeGateway {
        use http_body_util::{BodyExt, Full};
        use hyper::server::conn::http1;
        use hyper::service::service_fn;

        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("binds");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let (sender, received) = mpsc::unbounded_channel();
        let statuses = Arc::new(Mutex::new(scripted.iter().copied().collect::<VecDeque<u16>>()));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let sender = sender.clone();
                let statuses = Arc::clone(&statuses);
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let sender = sender.clone();
                    let statuses = Arc::clone(&statuses);
                    async move {
                        let header =
                            |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let content_type = header("content-type");
                        let signature = header("bawaba-signature");
                        let method = request.method().to_string();
                        let path = request.uri().path().to_owned();
                        let body =
                            request.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let _ = sender.send(Received { method, path, content_type, signature, body });
                        let status = statuses.lock().expect("not poisoned").pop_front().unwrap_or(204);
                        let mut response = hyper::Response::new(Full::new(bytes::Bytes::new()));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service));
            }
        });
        FakeGateway { base_url, received }
    }

    /// The next request, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Received {
        tokio::time::timeout(within, self.received.recv())
            .await
            .unwrap_or_else(|_| panic!("the gateway received nothing within {within:?}"))
            .expect("the receiver runs")
    }

    /// Whether no request arrives within `within`.
    pub async fn receives_nothing_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.received.recv()).await.is_err()
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}
