//! A hostile national-ID registry: a real HTTP server on loopback that
//! redirects, breaks the XSD, asks for pauses, sends endless or oversized
//! bodies, entities, deep nesting, invalid UTF-8, another citizen, hangs and
//! resets (CONTRACT §5 "Caching and upstream failure"). Every answer is a
//! problem+json within the call's budget, with its audit event, and nothing
//! the registry wrote reaches the answer or the log.

mod common;

use common::{TestApp, problem, verify_body};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ASKED: &str = "29001011300036";
/// Written by the hostile registry only: must never come out of the gateway.
const MARK: &str = "LEAKMARK";
const OTHER_ID: &str = "28507150100022";

const TIMEOUT_MS: u64 = 400;
const BUDGET_MS: u64 = 1500;
/// What the gateway may take after the budget (the audit write, the answer).
const SLACK: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------
// The captured log
// ---------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let writer = log.clone();
        bawaba::telemetry::init_with_writer("info,bawaba=debug,connectors=debug", "json", move || writer.clone());
        log
    })
}

fn assert_log_clean() {
    let text = String::from_utf8_lossy(&log().0.lock().unwrap()).into_owned();
    for secret in [MARK, OTHER_ID, "/etc/passwd"] {
        assert!(!text.contains(secret), "the log repeats the registry's {secret:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// The hostile registry
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum Script {
    /// A complete answer.
    Answer { status: u16, headers: Vec<(&'static str, String)>, body: Vec<u8> },
    /// 200, chunked, never ending.
    Endless,
    /// Reads the request and never answers.
    Hang,
    /// Reads the request and resets the connection.
    Reset,
}

/// A registry server; it counts and times the requests it gets.
struct Hostile {
    base: String,
    hits: Arc<Mutex<Vec<Instant>>>,
}

impl Hostile {
    async fn start(script: Script) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, seen) = (script.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut stream = stream;
                    if read_request(&mut stream).await {
                        seen.lock().unwrap().push(Instant::now());
                        serve(stream, script).await;
                    }
                });
            }
        });
        Hostile { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

/// Reads one request head and its `Content-Length` body; false on EOF.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            return true;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

async fn serve(mut stream: TcpStream, script: Script) {
    match script {
        Script::Answer { status, headers, body } => {
            let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                head.push_str("Content-Type: text/xml; charset=utf-8\r\n");
            }
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Script::Endless => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            let data = "<a>".repeat(1365);
            let chunk = format!("{:x}\r\n{data}\r\n", data.len());
            while stream.write_all(chunk.as_bytes()).await.is_ok() {}
        }
        Script::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(stream);
        }
        Script::Reset => {
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    }
}

fn answer(status: u16, body: impl Into<Vec<u8>>) -> Script {
    Script::Answer { status, headers: vec![], body: body.into() }
}

/// The registry's true answer about the asked citizen.
fn good_answer() -> String {
    let record = connectors::sandbox::population().get(ASKED).expect("a sandbox citizen");
    connectors::national_id::codec::build_response(&record)
}

/// The same answer about someone else, carrying the mark.
fn other_citizen() -> String {
    let mut record = connectors::sandbox::population().get(ASKED).unwrap();
    record.national_id = OTHER_ID.into();
    record.full_name = format!("{MARK} محمد");
    connectors::national_id::codec::build_response(&record)
}

fn citizen_element(xml: &str) -> &str {
    let start = xml.find("<nid:Citizen>").unwrap();
    let end = xml.find("</nid:Citizen>").unwrap() + "</nid:Citizen>".len();
    &xml[start..end]
}

/// `good_answer` with `extra` put right after the first `after`.
fn inserted(after: &str, extra: &str) -> String {
    let xml = good_answer();
    let at = xml.find(after).expect("in the answer") + after.len();
    format!("{}{extra}{}", &xml[..at], &xml[at..])
}

// ---------------------------------------------------------------------------
// The gateway in front of it
// ---------------------------------------------------------------------------

async fn gateway(registry: &str) -> TestApp {
    log();
    let registry = registry.to_owned();
    TestApp::spawn_with(move |s| {
        let r = s.registries.get_mut("national_id").unwrap();
        r.base_url = Some(registry);
        r.timeout_ms = TIMEOUT_MS;
        r.backoff_max_elapsed_ms = BUDGET_MS;
    })
    .await
}

struct Outcome {
    body: Value,
    elapsed: Duration,
    retry_after: Option<u64>,
}

/// One verify call through `app`; checks the problem, the budget, the audit
/// event and that nothing of the registry's came back.
async fn verify_fails(app: &TestApp, status: u16, code: &str) -> Outcome {
    let token = app.token("center-demo").await;
    let started = Instant::now();
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body(ASKED, json!({}))).await;
    let elapsed = started.elapsed();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("whole seconds"));
    let body = problem(r, status, code).await;
    assert!(elapsed <= Duration::from_millis(BUDGET_MS) + SLACK, "answered {elapsed:?} into a {BUDGET_MS} ms budget");
    let text = body.to_string();
    for secret in [MARK, OTHER_ID, "/etc/passwd", "soap", "HTTP 30"] {
        assert!(!text.contains(secret), "the answer repeats {secret:?}: {text}");
    }
    let request_id = body["request_id"].as_str().unwrap().to_owned();
    let events = app.audit_events("action=national_id.verify").await;
    let event = events.iter().find(|e| e["id"] == request_id.as_str()).expect("the call's audit event");
    assert_eq!(event["outcome"], code, "{event}");
    assert!(!event.to_string().contains(MARK), "{event}");
    assert_log_clean();
    Outcome { body, elapsed, retry_after }
}

async fn refused(script: Script) -> Outcome {
    let registry = Hostile::start(script).await;
    let app = gateway(&registry.base).await;
    let outcome = verify_fails(&app, 503, "upstream_unavailable").await;
    assert!(registry.hits() >= 1);
    outcome
}

// ---------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_never_followed_retried_or_cached() {
    let elsewhere = Hostile::start(answer(200, good_answer())).await;
    for status in [301, 302, 307, 308] {
        let location = format!("{}/national-id/soap", elsewhere.base);
        let registry = Hostile::start(Script::Answer {
            status,
            headers: vec![("Location", location)],
            body: good_answer().into_bytes(),
        })
        .await;
        let app = gateway(&registry.base).await;
        let first = verify_fails(&app, 503, "upstream_unavailable").await;
        assert!(first.retry_after.is_some_and(|s| s >= 1), "{status}");
        assert_eq!(registry.hits(), 1, "a {status} is not retried");
        verify_fails(&app, 503, "upstream_unavailable").await;
        assert_eq!(registry.hits(), 2, "a {status} is not cached: the registry is asked again");
    }
    assert_eq!(elsewhere.hits(), 0, "the Location was never visited");
}

// ---------------------------------------------------------------------------
// Answers the XSD does not allow
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_break_the_schema_are_refused() {
    let good = good_answer();
    let other = other_citizen();
    let fault = connectors::national_id::codec::build_fault(connectors::national_id::codec::FaultKind::NotFound);
    let fault_element = &fault[fault.find("<soap:Fault>").unwrap()..fault.find("</soap:Body>").unwrap()];
    let second_body = format!(
        "<soap:Body>{}</soap:Body>",
        &other[other.find("<nid:GetCitizenResponse>").unwrap()..other.find("</soap:Body>").unwrap()]
    );
    let cases = [
        ("two Citizen", inserted("</nid:Citizen>", citizen_element(&other))),
        ("NationalId twice", inserted("</nid:NationalId>", &format!("<nid:NationalId>{OTHER_ID}</nid:NationalId>"))),
        ("two soap:Body", inserted("</soap:Body>", &second_body)),
        ("a Fault after the answer", inserted("</nid:GetCitizenResponse>", fault_element)),
        ("FullName twice", inserted("</nid:FullName>", &format!("<nid:FullName>{MARK}</nid:FullName>"))),
        ("Alive twice", inserted("</nid:Alive>", "<nid:Alive>false</nid:Alive>")),
        ("an unknown element", inserted("</nid:CardStatus>", &format!("<nid:Secret>{MARK}</nid:Secret>"))),
        ("another citizen", other.clone()),
    ];
    assert!(good.contains(ASKED) && !good.contains(MARK));
    for (what, body) in cases {
        let outcome = refused(answer(200, body)).await;
        assert_eq!(outcome.body["code"], "upstream_unavailable", "{what}");
    }
}

// ---------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_past_the_budget_means_no_second_attempt() {
    let far = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    for (status, value) in [(429, "120".to_owned()), (503, far.format(&format).unwrap())] {
        let registry = Hostile::start(Script::Answer {
            status,
            headers: vec![("Retry-After", value.clone())],
            body: format!("<busy>{MARK}</busy>").into_bytes(),
        })
        .await;
        let app = gateway(&registry.base).await;
        let outcome = verify_fails(&app, 503, "upstream_unavailable").await;
        assert_eq!(registry.hits(), 1, "{status} Retry-After: {value}");
        assert!(outcome.elapsed < Duration::from_millis(BUDGET_MS), "answered at once, not at the budget");
        assert!(outcome.retry_after.is_some_and(|s| (1..=60).contains(&s)), "{:?}", outcome.retry_after);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_within_the_budget_is_waited_for() {
    let registry = Hostile::start(Script::Answer {
        status: 503,
        headers: vec![("Retry-After", "1".to_owned())],
        body: Vec::new(),
    })
    .await;
    let app = gateway(&registry.base).await;
    let outcome = verify_fails(&app, 503, "upstream_unavailable").await;
    let hits = registry.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2, "one pause of 1 s fits in {BUDGET_MS} ms, a second does not");
    assert!(hits[1] - hits[0] >= Duration::from_millis(990), "waited {:?}", hits[1] - hits[0]);
    assert_eq!(outcome.retry_after, Some(1));
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_endless_bodies_are_cut_off() {
    let padding = format!("<x:Pad xmlns:x=\"urn:pad\">{}</x:Pad>", MARK.repeat(40_000));
    refused(answer(200, inserted("</nid:CardStatus>", &padding))).await;
    refused(Script::Endless).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_deep_nesting_and_invalid_utf8_are_refused() {
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"{MARK}\">\
         <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>{}",
        good_answer().replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "").replacen("الله", "&lol3;", 1)
    );
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        good_answer().replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "")
    );
    let deep = format!(
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>{}{MARK}{}</soap:Body></soap:Envelope>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    let mut invalid_utf8 = good_answer().into_bytes();
    let at = invalid_utf8.windows(3).position(|w| w == b"<ni").unwrap();
    invalid_utf8.splice(at..at, [0xC3, 0x28, 0xFF]);
    for body in [laughs.into_bytes(), external.into_bytes(), deep.into_bytes(), invalid_utf8] {
        refused(answer(200, body)).await;
    }
}

// ---------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_registry_is_a_504_at_the_budget_with_retry_after() {
    let registry = Hostile::start(Script::Hang).await;
    let app = gateway(&registry.base).await;
    let outcome = verify_fails(&app, 504, "upstream_timeout").await;
    assert!(outcome.elapsed >= Duration::from_millis(3 * TIMEOUT_MS), "three attempts were waited for");
    assert_eq!(outcome.retry_after, Some(1), "a 504 carries Retry-After");
    assert_eq!(registry.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_slower_than_the_budget_is_answered_at_the_budget() {
    // Each attempt may take 1 s; the budget ends before the second does.
    let registry = Hostile::start(Script::Hang).await;
    let base = registry.base.clone();
    log();
    let app = TestApp::spawn_with(move |s| {
        let r = s.registries.get_mut("national_id").unwrap();
        r.base_url = Some(base);
        r.timeout_ms = 1000;
        r.backoff_max_elapsed_ms = BUDGET_MS;
    })
    .await;
    let outcome = verify_fails(&app, 504, "upstream_timeout").await;
    assert!(outcome.elapsed >= Duration::from_millis(BUDGET_MS - 50), "{:?}", outcome.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_connection_is_upstream_unavailable() {
    refused(Script::Reset).await;
}
