//! The API over TLS (rustls): `server.tls_cert` and `server.tls_key` (CONTRACT §1).

mod common;

use common::{TestApp, test_settings};
use serde_json::Value;

/// A gateway serving a fresh self-signed certificate for 127.0.0.1 and
/// localhost; returns it with the certificate's PEM.
async fn tls_app() -> (TestApp, String) {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let mut settings = test_settings(&dir);
    settings.server.tls_cert = Some(cert_path);
    settings.server.tls_key = Some(key_path);
    (TestApp::spawn_settings(settings, dir).await, cert_pem)
}

fn trusting(cert_pem: &str) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_only([cert]).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_over_https_with_the_configured_certificate() {
    let (app, cert_pem) = tls_app().await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let client = trusting(&cert_pem);
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));

    let r = client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let r = client
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(token)
        .json(&common::verify_body("29001011300036", serde_json::json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_asks_browsers_for_https_only() {
    let (app, cert_pem) = tls_app().await;
    let client = trusting(&cert_pem);
    for path in ["/healthz", "/v1/nothing", "/audit"] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000", "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_served_for_localhost_too() {
    let (app, cert_pem) = tls_app().await;
    let port = app.base.rsplit(':').next().unwrap();
    let r = trusting(&cert_pem).get(format!("https://localhost:{port}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let (app, _) = tls_app().await;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let err = trusting(&other.cert.pem()).get(app.url("/healthz")).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_listener_gets_no_answer() {
    let (app, _) = tls_app().await;
    let plain = app.base.replacen("https://", "http://", 1);
    let result = reqwest::Client::new().get(format!("{plain}/healthz")).send().await;
    match result {
        Err(_) => {}
        Ok(r) => panic!("plain HTTP was answered with {}", r.status()),
    }
}
