//! A PostgreSQL that goes away and comes back (issue 5): while it is away,
//! data calls answer 503 `store_unavailable` and reach no registry; nothing
//! accepted before is lost; service resumes by itself. The database is
//! reached through a TCP relay the test can cut, as a network partition or a
//! database restart would look from the gateway.

mod common;

use common::{Backend, TestApp, postgres_server, problem, verify_body};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// Relays TCP to `upstream` until cut; while cut, connections are refused
/// (accepted and closed at once) and the ones open are torn down.
struct Relay {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (flag, tasks) = (up.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                tasks.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { addr, up, open }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.open.lock().await.abort_all();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn wait_for(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_that_goes_away_gives_503s_loses_nothing_and_service_resumes_by_itself() {
    let Some(server) = postgres_server() else {
        eprintln!("skipped: no database");
        return;
    };
    let db = common::PgDatabase::create(&server).await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.addr.port())).unwrap();
    let app = TestApp::spawn_on_with(Backend::Sqlite, |s| {
        s.store.url = url.to_string();
        s.store.busy_timeout_ms = 500;
    })
    .await;
    let center = app.token("center-demo").await;
    let (status, _) = app.verify(&center, &verify_body("29001011300036", json!({}))).await;
    assert_eq!(status, 200);

    // Messages accepted while the SMSC is slow stay queued in the store.
    app.fault(json!({"registry": "smsc", "mode": "http_503"})).await;
    let mut accepted = Vec::new();
    for i in 0..10 {
        let body = json!({"to": format!("0102{:07}", i), "template": "request_status", "lang": "en",
            "params": {"case_ref": format!("OUT-{i}"), "status": "approved", "center": "Zagazig"},
            "context": {"operator_id": "EMP-1", "purpose": "status_notification", "case_ref": format!("OUT-{i}")}});
        let r = app
            .http
            .post(app.url("/v1/sms"))
            .bearer_auth(&center)
            .header("Idempotency-Key", format!("out-{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        accepted.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }

    relay.cut().await;
    wait_for(Duration::from_secs(15), "readiness showing the store down", async || {
        let (status, body) = app.readiness().await;
        status == 503 && body["store"] == "down"
    })
    .await;
    let before = app.upstream_requests("national_id").await;
    for id in ["28507150100022", "29001011300036"] {
        let r = app.post_json("/v1/national-id/verify", &center, &verify_body(id, json!({}))).await;
        problem(r, 503, "store_unavailable").await;
    }
    assert_eq!(app.upstream_requests("national_id").await, before, "no registry call that cannot be recorded");
    let r = app.get(&format!("/v1/sms/{}", accepted[0]), &center).await;
    problem(r, 503, "store_unavailable").await;

    // It comes back: the gateway finds out by itself.
    app.clear_faults().await;
    relay.restore();
    wait_for(Duration::from_secs(20), "readiness showing the store up", async || {
        let (status, body) = app.readiness().await;
        status == 200 && body["store"] == "ok"
    })
    .await;
    let (status, body) = app.verify(&center, &verify_body("28507150100022", json!({}))).await;
    assert_eq!(status, 200, "{body}");

    // Nothing accepted before the outage was lost: every message goes out.
    for id in &accepted {
        wait_for(Duration::from_secs(30), "a queued message being sent after the outage", async || {
            let r = app.get(&format!("/v1/sms/{id}"), &center).await;
            r.status() == 200 && r.json::<Value>().await.unwrap()["status"] != "queued"
        })
        .await;
    }
    let auditor = app.token("auditor-demo").await;
    let report: Value = app.get("/v1/audit/integrity", &auditor).await.json().await.unwrap();
    assert_eq!(report["ok"], true, "the chain survives the outage: {report}");
    let outage = app.audit_events("outcome=store_unavailable").await;
    assert!(outage.is_empty(), "503s during the outage could not be recorded, and none appears later");
}
