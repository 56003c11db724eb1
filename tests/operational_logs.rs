//! Operational logs never contain a full national ID, phone number, name,
//! secret or token (CONTRACT §8), whatever the gateway was asked and however
//! its registries failed. The real binary is run, its log read whole.
mod common;

use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_bawaba");

struct Served {
    child: tokio::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
    api: String,
    sandbox: String,
    _dir: tempfile::TempDir,
}

/// `bawaba serve` on loopback with ports 0, logging our crates at debug.
async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("bawaba.db").display());
    let mut cmd = tokio::process::Command::new(BIN);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    cmd.arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("BAWABA__SERVER__LISTEN", "127.0.0.1:0")
        .env("BAWABA__SANDBOX__LISTEN", "127.0.0.1:0")
        .env("BAWABA__STORE__URL", store)
        .env("BAWABA__AUDIT__CHECKPOINT_KEY_FILE", dir.path().join("checkpoint-key.pem"))
        .env("BAWABA__LOG__LEVEL", "info,bawaba=debug,connectors=debug")
        .env("BAWABA__LOG__FORMAT", "json")
        .env("BAWABA__REGISTRIES__NATIONAL_ID__TIMEOUT_MS", "300")
        .env("BAWABA__REGISTRIES__NATIONAL_ID__BACKOFF_MAX_ELAPSED_MS", "1000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("bawaba serve starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Value>();
    let mut ready_tx = Some(ready_tx);
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let sink = lines.clone();
    let reader = tokio::spawn(async move {
        let mut err_lines = stderr.lines();
        let mut out_lines = stdout.lines();
        let (mut err_open, mut out_open) = (true, true);
        while err_open || out_open {
            let line = tokio::select! {
                l = err_lines.next_line(), if err_open => match l { Ok(Some(l)) => l, _ => { err_open = false; continue } },
                l = out_lines.next_line(), if out_open => match l { Ok(Some(l)) => l, _ => { out_open = false; continue } },
            };
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == "bawaba serving"
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(event);
            }
            sink.lock().unwrap().push(line);
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .unwrap_or_else(|_| panic!("the gateway never said it was serving: {:?}", lines.lock().unwrap()))
        .expect("a serving line");
    let api = ready["api"].as_str().expect("the API address is logged").to_owned();
    // `sandbox` is logged as `Some(127.0.0.1:port)`.
    let sandbox = ready["sandbox"].as_str().unwrap().trim_start_matches("Some(").trim_end_matches(')').to_owned();
    Served { child, lines, reader, api, sandbox: format!("http://{sandbox}"), _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_no_citizen_no_phone_no_secret_and_no_token() {
    let mut served = serve().await;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{}", served.api, path);
    let token = common::demo_token(&http, &served.api, "center-demo").await;
    let context = json!({"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"});
    let shop = json!({"operator_id": "EMP-1001", "purpose": "shop_license", "case_ref": "SHR-2025-000123"});
    let post = |path: &'static str, body: Value| {
        let (http, token, url) = (http.clone(), token.clone(), api(path));
        async move { http.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16() }
    };
    let claims = json!({"full_name": "محمد أحمد علي", "mother_name": "فاطمة حسن", "birth_date": "1990-01-01"});
    assert_eq!(
        post("/v1/national-id/verify", json!({"national_id": "29001011300036", "claims": claims, "context": context}))
            .await,
        200
    );
    let wrong = json!({"full_name": "زينب محمود علي"});
    assert_eq!(
        post("/v1/national-id/verify", json!({"national_id": "28507150100022", "claims": wrong, "context": context}))
            .await,
        200
    );
    assert_eq!(post("/v1/national-id/verify", json!({"national_id": "29001011399997", "context": context})).await, 200);
    assert_eq!(post("/v1/national-id/verify", json!({"national_id": "29002301300036", "context": context})).await, 400);
    let cr = json!({"registration_number": "123456", "office": "ZAGAZIG",
                    "claims": {"trade_name": "مخبز النور", "owner_national_id": "29001011300036"}, "context": shop});
    assert_eq!(post("/v1/commercial-register/verify", cr).await, 200);
    let sc = json!({"national_id": "29505058800051", "check_type": "shop_license", "context": shop});
    assert_eq!(post("/v1/security-checks", sc).await, 202);
    let sms = json!({"to": "01001234567", "template": "request_status", "lang": "ar",
                     "params": {"case_ref": "SHR-2025-000123", "status": "approved", "center": "مركز الزقازيق"},
                     "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}});
    let r =
        http.post(api("/v1/sms")).bearer_auth(&token).header("Idempotency-Key", "log-test-1").json(&sms).send().await;
    assert_eq!(r.unwrap().status(), 202);
    // Registry failures are logged: they must not carry the ID either.
    for mode in ["http_503", "malformed", "timeout"] {
        let fault = json!({"registry": "national_id", "mode": mode});
        assert!(
            http.post(format!("{}/_faults", served.sandbox)).json(&fault).send().await.unwrap().status().is_success()
        );
        let id = "24003202100031";
        let status = post("/v1/national-id/verify", json!({"national_id": id, "context": context})).await;
        assert!(status == 503 || status == 504, "{mode}: {status}");
    }
    // A citizen asking for their history while the registry times out.
    let inbound = json!({"from": "+201112345678", "text": "HISTORY 28507150100022"});
    http.post(format!("{}/_smsc/inbound", served.sandbox)).json(&inbound).send().await.unwrap();
    http.delete(format!("{}/_faults", served.sandbox)).send().await.unwrap();
    // Inbound messages from the citizen's phone, and a junk bearer token.
    for text in ["SHR-2025-000123", "سجل 29001011300036", "تنبيه 29001011300036"] {
        let inbound = json!({"from": "+201001234567", "text": text});
        http.post(format!("{}/_smsc/inbound", served.sandbox)).json(&inbound).send().await.unwrap();
    }
    // A data call that the citizen is alerted of.
    let again = json!({"national_id": "29001011300036", "context": context});
    assert_eq!(post("/v1/national-id/verify", again).await, 200);
    let junk = http.get(api("/v1/audit/events")).bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").send().await;
    assert_eq!(junk.unwrap().status(), 401);
    // Let the security check and the SMS dispatch do their background work.
    tokio::time::sleep(Duration::from_millis(3000)).await;

    served.child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.child.wait()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut served.reader).await;
    let lines = served.lines.lock().unwrap().clone();
    if std::env::var_os("BAWABA_TEST_SHOW_LOG").is_some() {
        eprintln!("{}", lines.join("\n"));
    }
    assert!(lines.iter().any(|l| l.contains("bawaba serving")), "the log was read");
    assert!(lines.iter().any(|l| l.contains("\"WARN\"") || l.contains("\"level\":\"WARN\"")), "failures were logged");
    let forbidden = [
        "29001011300036",
        "28507150100022",
        "29001011399997",
        "29002301300036",
        "29505058800051",
        "24003202100031",
        "201001234567",
        "01001234567",
        "201112345678",
        "محمد",
        "فاطمة",
        "زينب",
        "مخبز",
        "center-demo-secret",
        "center-demo-callback-secret",
        "smsc-demo-secret",
        token.as_str(),
        "eyJhbGciOiJub25lIn0",
    ];
    for line in &lines {
        for secret in forbidden {
            assert!(!line.contains(secret), "the log holds {secret:?}: {line}");
        }
    }
}
