//! Trace export over OTLP/HTTP to a collector: a small receiver here takes
//! the gateway's protobuf batches and decodes them with the official
//! OpenTelemetry types (`opentelemetry-proto`). The exported spans carry the
//! caller's W3C trace, the registry saw the request span as its parent, and
//! no span holds the citizen's national ID or name.

use super::{common, gateway, received, tap};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// An OTLP/HTTP traces endpoint on loopback: every span it was sent.
async fn collector() -> (String, Arc<Mutex<Vec<Span>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = spans.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    // One request: its head, then Content-Length bytes of protobuf.
                    let (mut length, mut line) = (None, String::new());
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end().to_ascii_lowercase();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.strip_prefix("content-length:") {
                            length = v.trim().parse::<usize>().ok();
                        }
                    }
                    let mut body = vec![0u8; length.expect("a Content-Length")];
                    read.read_exact(&mut body).await.unwrap();
                    let batch = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP trace export");
                    for r in batch.resource_spans {
                        for s in r.scope_spans {
                            sink.lock().unwrap().extend(s.spans);
                        }
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, spans)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_go_to_an_otlp_collector_under_the_callers_trace_without_personal_data() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (sandbox_addr, serve) = sandbox.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox_url = format!("http://{sandbox_addr}");
    let (relay, seen) = tap(sandbox_addr).await;
    let (endpoint, spans) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = gateway(port, dir.path(), &sandbox_url, &relay, &[("BAWABA__TELEMETRY__OTLP_ENDPOINT", &endpoint)]);
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = common::demo_token(&http, &base, "center-demo").await;
    let national_id = "29001011300036";
    let name = "محمد احمد علي";
    let body = json!({"national_id": national_id, "claims": {"full_name": name},
        "context": {"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"}});
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = http
        .post(format!("{base}/v1/national-id/verify"))
        .bearer_auth(&token)
        .header("traceparent", caller)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Batches leave every second.
    let deadline = Instant::now() + Duration::from_secs(15);
    let trace = hex::decode("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let ours = loop {
        let now: Vec<Span> = spans.lock().unwrap().iter().filter(|s| s.trace_id == trace).cloned().collect();
        if now.iter().any(|s| s.name == "registry_attempt") && now.iter().any(|s| s.name == "request") {
            break now;
        }
        assert!(Instant::now() < deadline, "the spans never reached the collector: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let request = ours.iter().find(|s| s.name == "request").unwrap();
    assert_eq!(hex::encode(&request.parent_span_id), "00f067aa0ba902b7", "a child of the caller's span");
    let attempt = ours.iter().find(|s| s.name == "registry_attempt").unwrap();
    assert_eq!(attempt.parent_span_id, request.span_id, "the attempt is inside the request");
    assert_eq!(attribute(attempt, "registry").as_deref(), Some("national_id"));
    assert_eq!(attribute(attempt, "result").as_deref(), Some("ok"));
    // The registry was told the same trace, with the exported request span as parent.
    let sent = received(&seen);
    assert_eq!(sent, [format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", hex::encode(&request.span_id))]);

    // Nothing personal in any span the gateway sent.
    let everything = format!("{:?}", spans.lock().unwrap());
    for personal in [national_id, name] {
        assert!(!everything.contains(personal), "{personal} in an exported span");
    }
    child.kill().await.ok();
}
