//! TLS on registry calls: a per-registry CA bundle (instead of the system
//! roots) and a client certificate for mutual TLS.

mod common;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::{TestApp, test_settings, verify_body};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    ca_der: CertificateDer<'static>,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A private CA, a registry certificate for 127.0.0.1 and a gateway client certificate.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["bawaba-gateway".to_owned()]).unwrap().signed_by(&client_key, &ca).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.path().join("client-key.pem"), client_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        dir,
    }
}

/// A national-ID registry over HTTPS that requires a client certificate signed by the CA.
async fn mtls_registry(pki: &Pki) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let record = connectors::sandbox::population().get("29001011300036").unwrap();
    let answer = connectors::national_id::codec::build_response(&record);
    let server = HttpServer::new(move || {
        let answer = answer.clone();
        App::new().route(
            "/national-id/soap",
            web::post().to(move || {
                let answer = answer.clone();
                async move { HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(answer) }
            }),
        )
    })
    .workers(1)
    .bind_rustls_0_23("127.0.0.1:0", config)
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    format!("https://{addr}")
}

async fn gateway(pki: &Pki, registry: &str, with_client_cert: bool) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(&dir);
    let r = s.registries.get_mut("national_id").unwrap();
    r.base_url = Some(registry.to_owned());
    r.ca_bundle = Some(pki.path("ca.pem"));
    r.backoff_max_elapsed_ms = 500;
    if with_client_cert {
        r.client_cert = Some(pki.path("client.pem"));
        r.client_key = Some(pki.path("client-key.pem"));
    }
    TestApp::spawn_settings(s, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_behind_mutual_tls_is_reached_with_the_configured_ca_and_client_certificate() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = pki();
    assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let registry = mtls_registry(&pki).await;
    let app = gateway(&pki, &registry, true).await;
    let token = app.token("center-demo").await;
    let r = app
        .post_json("/v1/national-id/verify", &token, &verify_body("29001011300036", json!({"gender": "male"})))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["source"]["cached"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_client_certificate_the_registry_refuses_the_handshake() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = pki();
    let registry = mtls_registry(&pki).await;
    let app = gateway(&pki, &registry, false).await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body("29001011300036", json!({}))).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "upstream_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_certificate_from_another_ca_is_not_trusted() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = pki();
    let registry = mtls_registry(&pki).await;
    let other = self::pki();
    let app = gateway(&other, &registry, true).await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body("29001011300036", json!({}))).await;
    assert_eq!(r.status(), 503);
}

/// A registry over HTTPS (client certificate required) that answers every
/// call with a 307 to `location`.
async fn redirecting_mtls_registry(pki: &Pki, location: String) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .unwrap();
    let server = HttpServer::new(move || {
        let location = location.clone();
        App::new().route(
            "/national-id/soap",
            web::post().to(move || {
                let location = location.clone();
                async move { HttpResponse::TemporaryRedirect().insert_header(("Location", location)).finish() }
            }),
        )
    })
    .workers(1)
    .bind_rustls_0_23("127.0.0.1:0", config)
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    format!("https://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_certificate_and_the_request_never_go_where_a_redirect_points() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pki = pki();
    // A second TLS-capable address (127.0.0.1 is in the registry certificate):
    // any connection to it is counted, before any handshake.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_addr = elsewhere.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = elsewhere.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let registry = redirecting_mtls_registry(&pki, format!("https://{elsewhere_addr}/national-id/soap")).await;
    let app = gateway(&pki, &registry, true).await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body("29001011300036", json!({}))).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "upstream_unavailable");
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was sent to the Location");
}
