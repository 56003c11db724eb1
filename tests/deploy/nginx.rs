//! deploy/nginx/bawaba.conf: `nginx -t`, then a real nginx in front of two gateways.

use super::balancer::Nginx;
use super::common::{TestApp, free_port};
use super::{check, scrape};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn nginx_accepts_the_load_balancer_example() {
    let nginx = Nginx::new(&["127.0.0.1:8080", "127.0.0.1:8081"], 8000, 8443);
    let mut args = nginx.args();
    args.insert(0, "-t".into());
    let out = check("nginx", &args.iter().map(String::as_str).collect::<Vec<_>>(), "nginx");
    assert!(out.contains("test is successful"), "{out}");
}

/// The example in front of two gateways: TLS terminated, both replicas
/// answering, a POST passed through, plain HTTP redirected, /metrics kept
/// for the monitoring network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_example_balances_two_replicas_behind_tls() {
    let (a, b) = (TestApp::spawn().await, TestApp::spawn().await);
    let addr = |app: &TestApp| app.base.trim_start_matches("http://").to_owned();
    let (http, https) = (free_port(), free_port());
    let nginx = Nginx::new(&[&addr(&a), &addr(&b)], http, https);
    let mut child = nginx.start().await;
    let (client, front) = (nginx.client(), nginx.front());

    for _ in 0..20 {
        let r = client.get(format!("{front}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
    }
    // Both replicas took a share.
    for app in [&a, &b] {
        let metrics = scrape(app).await;
        let line =
            metrics.lines().find(|l| l.starts_with("bawaba_http_requests_total{route=\"/readyz\",status=\"200\"}"));
        let n: u64 = line.and_then(|l| l.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(n >= 1, "replica {} got no call", app.base);
    }
    // A POST with a form body goes through, and the gateway's headers come back.
    let r = client
        .post(format!("{front}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert!(r.headers().get("strict-transport-security").is_some());
    assert!(r.json::<Value>().await.unwrap()["access_token"].is_string());
    // A problem+json answer passes as it is.
    let r = client.post(format!("{front}/v1/national-id/verify")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    // /metrics is not published through the balancer.
    assert_eq!(client.get(format!("{front}/metrics")).send().await.unwrap().status(), 404);
    // Plain HTTP is sent to HTTPS.
    let r = client.get(format!("http://127.0.0.1:{http}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("https://"));
    child.stop();
    let status = tokio::time::timeout(Duration::from_secs(10), child.0.wait()).await.expect("nginx stops on SIGTERM");
    assert!(status.is_ok());
}
