//! A real nginx (Debian's) running deploy/nginx/bawaba.conf in front of
//! gateways on loopback: the example's paths and addresses moved to a
//! temporary directory and the given ports.

use crate::common::repo_file;
use std::time::{Duration, Instant};

/// deploy/nginx/bawaba.conf in a main configuration of its own, its paths and
/// addresses moved to `dir` and the given ports, as `nginx -t -c` wants it.
pub struct Nginx {
    pub dir: tempfile::TempDir,
    pub cert_pem: String,
    pub https: u16,
}

impl Nginx {
    /// The example's upstream block lists two replicas; it lists `replicas`
    /// here, each with the example's options.
    pub fn new(replicas: &[&str], http: u16, https: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("bawaba.crt"), certified.cert.pem()).unwrap();
        std::fs::write(dir.path().join("bawaba.key"), certified.signing_key.serialize_pem()).unwrap();
        let example = std::fs::read_to_string(repo_file("deploy/nginx/bawaba.conf")).unwrap();
        for needed in ["server 127.0.0.1:8080 ", "server 127.0.0.1:8081 ", "listen 80;", "listen 443 ssl http2;"] {
            assert!(example.contains(needed), "the example no longer has `{needed}`");
        }
        let upstream = |line: &str| {
            let options = line.trim().trim_start_matches("server 127.0.0.1:8080");
            replicas.iter().map(|r| format!("    server {r}{options}")).collect::<Vec<_>>().join("\n")
        };
        let conf = example
            .replace("/etc/nginx/tls/", &format!("{d}/"))
            .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
            .replace("listen 443 ssl http2;", &format!("listen 127.0.0.1:{https} ssl http2;"))
            .lines()
            .filter(|l| !l.contains("listen [::]") && !l.contains("server 127.0.0.1:8081 "))
            .map(|l| if l.contains("server 127.0.0.1:8080 ") { upstream(l) } else { l.to_owned() })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join("bawaba.conf"), conf).unwrap();
        let main = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/bawaba.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        Nginx { dir, cert_pem: certified.cert.pem(), https }
    }

    pub fn args(&self) -> Vec<String> {
        let d = self.dir.path().display().to_string();
        vec!["-p".into(), d.clone(), "-e".into(), format!("{d}/error.log"), "-c".into(), format!("{d}/nginx.conf")]
    }

    /// The HTTPS front, `https://127.0.0.1:<https>`.
    pub fn front(&self) -> String {
        format!("https://127.0.0.1:{}", self.https)
    }

    /// A client that trusts this nginx's certificate only and follows no redirect.
    pub fn client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap();
        reqwest::Client::builder().tls_certs_only([cert]).redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Starts nginx and waits (at most 10 s) until its front answers `/healthz`.
    pub async fn start(&self) -> Running {
        let mut child = Running(
            tokio::process::Command::new("nginx")
                .args(self.args())
                .spawn()
                .expect("nginx runs (Debian's nginx, see .ci/run)"),
        );
        let (client, front) = (self.client(), self.front());
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.get(format!("{front}/healthz")).send().await.is_err() {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(Instant::now() < deadline, "nginx does not answer on {front}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child
    }
}

/// nginx's master, stopped with its workers when the test ends (even by a
/// panic): on SIGTERM the master stops them itself (a SIGKILL would orphan them).
/// (Tokio reaps a child dropped before its end.)
pub struct Running(pub tokio::process::Child);

impl Running {
    pub fn stop(&self) {
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
