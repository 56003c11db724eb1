//! deploy/nginx/bawaba.conf: `nginx -t`, then a real nginx in front of two gateways.

use super::common::TestApp;
use super::{check, read, scrape};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// deploy/nginx/bawaba.conf in a main configuration of its own, its paths and
/// addresses moved to `dir` and the given ports, as `nginx -t -c` wants it.
struct Nginx {
    dir: tempfile::TempDir,
    cert_pem: String,
}

impl Nginx {
    fn new(replicas: [&str; 2], http: u16, https: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("bawaba.crt"), certified.cert.pem()).unwrap();
        std::fs::write(dir.path().join("bawaba.key"), certified.signing_key.serialize_pem()).unwrap();
        let example = read("deploy/nginx/bawaba.conf");
        for needed in ["server 127.0.0.1:8080 ", "server 127.0.0.1:8081 ", "listen 80;", "listen 443 ssl http2;"] {
            assert!(example.contains(needed), "the example no longer has `{needed}`");
        }
        let conf = example
            .replace("/etc/nginx/tls/", &format!("{d}/"))
            .replace("server 127.0.0.1:8080 ", &format!("server {} ", replicas[0]))
            .replace("server 127.0.0.1:8081 ", &format!("server {} ", replicas[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
            .replace("listen 443 ssl http2;", &format!("listen 127.0.0.1:{https} ssl http2;"))
            .lines()
            .filter(|l| !l.contains("listen [::]"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join("bawaba.conf"), conf).unwrap();
        let main = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/bawaba.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        Nginx { dir, cert_pem: certified.cert.pem() }
    }

    fn args(&self) -> Vec<String> {
        let d = self.dir.path().display().to_string();
        vec!["-p".into(), d.clone(), "-e".into(), format!("{d}/error.log"), "-c".into(), format!("{d}/nginx.conf")]
    }
}

#[test]
fn nginx_accepts_the_load_balancer_example() {
    let nginx = Nginx::new(["127.0.0.1:8080", "127.0.0.1:8081"], 8000, 8443);
    let mut args = nginx.args();
    args.insert(0, "-t".into());
    let out = check("nginx", &args.iter().map(String::as_str).collect::<Vec<_>>(), "nginx");
    assert!(out.contains("test is successful"), "{out}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The example in front of two gateways: TLS terminated, both replicas
/// answering, a POST passed through, plain HTTP redirected, /metrics kept
/// for the monitoring network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_example_balances_two_replicas_behind_tls() {
    let (a, b) = (TestApp::spawn().await, TestApp::spawn().await);
    let addr = |app: &TestApp| app.base.trim_start_matches("http://").to_owned();
    let (http, https) = (free_port(), free_port());
    let nginx = Nginx::new([&addr(&a), &addr(&b)], http, https);
    let mut child = Running(
        tokio::process::Command::new("nginx")
            .args(nginx.args())
            .spawn()
            .expect("nginx runs (Debian's nginx, see .ci/run)"),
    );
    let cert = reqwest::Certificate::from_pem(nginx.cert_pem.as_bytes()).unwrap();
    let client =
        reqwest::Client::builder().tls_certs_only([cert]).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let front = format!("https://127.0.0.1:{https}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{front}/healthz")).send().await.is_err() {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "nginx exited ({status}): {}",
                std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx does not answer on {front}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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

/// nginx's master, stopped with its workers when the test ends (even by a
/// panic): on SIGTERM the master stops them itself (a SIGKILL would orphan them).
/// (Tokio reaps a child dropped before its end.)
struct Running(tokio::process::Child);

impl Running {
    fn stop(&self) {
        if let Some(pid) = self.0.id().and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
