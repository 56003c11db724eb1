//! Citizens text 5960 to ask who looked at their data (CONTRACT §12), black
//! box: signed inbound messages through the sandbox SMSC, replies read back
//! from it, expectations computed from the audit log.

mod common;

use common::{Backend, TestApp, verify_body_for};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const FIXTURE: &str = "29001011300036";
/// DOMAIN.md: the number registered to FIXTURE, and to 28507150100022.
const OWNER: &str = "+201001234567";
const OTHER_OWNER: &str = "+201112345678";

async fn smsc_messages(app: &TestApp, to: &str) -> Vec<Value> {
    let url = format!("{}/_smsc/messages?to={}", app.sandbox, to.replace('+', "%2B"));
    let r: Value = app.http.get(url).send().await.unwrap().json().await.unwrap();
    r["messages"].as_array().cloned().unwrap_or_default()
}

/// The `n`-th message (1-based) the SMSC took for `to`, waiting for it.
async fn nth_message(app: &TestApp, to: &str, n: usize) -> Value {
    let started = Instant::now();
    loop {
        let msgs = smsc_messages(app, to).await;
        if msgs.len() >= n {
            return msgs[n - 1].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no message {n} for {to}: {msgs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Texts `text` from `from` and returns the reply (the next message to `from`).
async fn ask(app: &TestApp, from: &str, text: &str) -> Value {
    let before = smsc_messages(app, from).await.len();
    common::inject(app, from, text).await;
    nth_message(app, from, before + 1).await
}

async fn ask_text(app: &TestApp, from: &str, text: &str) -> String {
    ask(app, from, text).await["text"].as_str().unwrap().to_owned()
}

/// A number of its own for each stranger.
fn stranger(i: u32) -> String {
    format!("+2015{:08}", 10_000_000 + i)
}

async fn verify(app: &TestApp, token: &str, id: &str, purpose: &str) -> u16 {
    app.verify(token, &verify_body_for(id, json!({"full_name": "محمد أحمد علي"}), purpose)).await.0
}

/// The labels of the default templates, written out here independently.
fn governorate(center: &str, english: bool) -> &'static str {
    match (center.split('-').next().unwrap(), english) {
        ("SHR", false) => "الشرقية",
        ("SHR", true) => "Sharqia",
        ("CAI", false) => "القاهرة",
        ("CAI", true) => "Cairo",
        other => panic!("no label in this test for {other:?}"),
    }
}

fn purpose(name: &str, english: bool) -> &'static str {
    match (name, english) {
        ("building_permit", false) => "ترخيص بناء",
        ("building_permit", true) => "building permit",
        ("shop_license", false) => "ترخيص محل",
        ("shop_license", true) => "shop license",
        other => panic!("no label in this test for {other:?}"),
    }
}

/// What the audit log says the citizen may see about `id`: answered
/// national-ID verifications and security checks of the last 180 days, by
/// clients not in `hidden`, newest first, as reply lines.
async fn expected_lines(app: &TestApp, id: &str, hidden: &[&str], english: bool) -> Vec<String> {
    let token = app.token("auditor-demo").await;
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(180);
    let events = app.all_audit_events(&token, &format!("subject={id}")).await;
    events
        .iter()
        .filter(|e| matches!(e["action"].as_str(), Some("national_id.verify" | "security_check.submit")))
        .filter(|e| (200..300).contains(&e["http_status"].as_u64().unwrap()))
        .filter(|e| !hidden.contains(&e["client_id"].as_str().unwrap_or("")))
        .filter(|e| {
            let at =
                time::OffsetDateTime::parse(e["at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
                    .unwrap();
            at >= since
        })
        .map(|e| {
            let date = &e["at"].as_str().unwrap()[..10];
            let center = e["center_id"].as_str().unwrap();
            let registry = match (e["action"].as_str().unwrap(), english) {
                ("national_id.verify", false) => "السجل المدني",
                ("national_id.verify", true) => "civil registry",
                (_, false) => "الفحص الأمني",
                (_, true) => "security check",
            };
            let purpose = purpose(e["purpose"].as_str().unwrap(), english);
            if english {
                format!("{date} {}: {registry}, {purpose}", governorate(center, true))
            } else {
                format!("{date} {}: {registry}، {purpose}", governorate(center, false))
            }
        })
        .collect()
}

/// The reply every case that may learn nothing gets: that of a nonsense text
/// (in Arabic, for a number that was never notified).
async fn nothing_reply(app: &TestApp, from: &str) -> String {
    ask_text(app, from, "XYZ-0000-000000").await
}

/// The same reply in English, for `HISTORY` and `NOTIFY`.
fn nothing_in_english() -> String {
    let templates = bawaba::sms::Templates::parse(bawaba::config::DEFAULT_SMS_TEMPLATES_TOML, "default").unwrap();
    templates.replies.unknown.en
}

async fn the_registered_number_gets_exactly_the_logged_accesses_and_a_stranger_learns_nothing(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.citizens.history_per_hour = 5).await;
    let center = app.token("center-demo").await;
    let center2 = app.token("center2-demo").await;
    let limited = app.token("limited-demo").await;
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    assert_eq!(verify(&app, &center2, FIXTURE, "shop_license").await, 200);
    assert_eq!(verify(&app, &center, FIXTURE, "shop_license").await, 200);
    // Refused (purpose not allowed): recorded, but no one looked at the data.
    assert_eq!(verify(&app, &limited, FIXTURE, "shop_license").await, 403);
    // Another citizen's lookup is not this citizen's history.
    assert_eq!(verify(&app, &center, "28507150100022", "building_permit").await, 200);

    let reply = ask(&app, OWNER, &format!("سجل {FIXTURE}")).await;
    let text = reply["text"].as_str().unwrap();
    let lines = expected_lines(&app, FIXTURE, &[], false).await;
    assert_eq!(lines.len(), 3);
    assert_eq!(text, format!("من اطلع على بياناتك آخر 180 يوما:\n{}", lines.join("\n")));
    assert_eq!(reply["encoding"], "ucs2");
    assert!(reply["segments"].as_u64().unwrap() <= 3);
    for hidden in ["SHR-ZAG-01", "CAI-NSR-01", "EMP-1001", "center-demo", "SHR-2025"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }

    let english = ask_text(&app, OWNER, &format!("HISTORY {FIXTURE}")).await;
    let lines = expected_lines(&app, FIXTURE, &[], true).await;
    assert_eq!(english, format!("Who looked at your data in the last 180 days:\n{}", lines.join("\n")));

    let nothing = nothing_reply(&app, &stranger(1)).await;
    assert_eq!(ask_text(&app, OTHER_OWNER, &format!("سجل {FIXTURE}")).await, nothing);
    for date in lines.iter().map(|l| &l[..10]) {
        assert!(!nothing.contains(date));
    }

    let events = app.audit_events("action=citizen.history").await;
    assert_eq!(events.len(), 3, "{events:?}");
    for e in &events {
        assert_eq!(e["subject"], FIXTURE);
        assert_eq!(e["client_id"], "sms-5960");
    }
    let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["other_number", "shown", "shown"]);
}

async fn every_case_that_may_learn_nothing_gets_the_reply_of_nonsense(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for id in [FIXTURE, "24003202100031"] {
        assert_eq!(verify(&app, &center, id, "building_permit").await, 200);
    }
    let nothing = nothing_reply(&app, &stranger(0)).await;
    let english = nothing_in_english();
    for (i, (from, text)) in [
        // Another number than the registered one.
        (OTHER_OWNER.to_owned(), format!("سجل {FIXTURE}")),
        (stranger(1), format!("HISTORY {FIXTURE}")),
        // An ID with no registered number, from any number.
        (stranger(2), "سجل 24003202100031".to_owned()),
        // An unknown ID, an invalid one (30 February), none at all.
        (stranger(3), "سجل 29001011399997".to_owned()),
        (stranger(4), "سجل 29002301300036".to_owned()),
        (stranger(5), "سجل".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        let expected = if text.starts_with("HISTORY") { &english } else { &nothing };
        assert_eq!(&ask_text(&app, &from, &text).await, expected, "case {i}: {text}");
    }
    let outcomes: Vec<String> = app
        .audit_events("action=citizen.history")
        .await
        .iter()
        .rev()
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["other_number", "other_number", "no_number", "unknown_id", "invalid_id", "invalid_id"]);
}

async fn mixed_digits_and_spacing_are_the_same_request(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.citizens.history_per_hour = 3).await;
    let center = app.token("center-demo").await;
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    let lines = expected_lines(&app, FIXTURE, &[], false).await;
    let expected = format!("من اطلع على بياناتك آخر 180 يوما:\n{}", lines.join("\n"));
    for text in ["سجل ٢٩٠٠ ١٠١١ 3000 ٣٦", "  سجل٢٩٠٠١٠١١٣٠٠٠٣٦ ", "سـجـل 2900-1011-3000-36"]
    {
        assert_eq!(ask_text(&app, OWNER, text).await, expected, "{text:?}");
    }
}

async fn the_registry_down_gets_try_later_and_no_history(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let text = ask_text(&app, OWNER, &format!("سجل {FIXTURE}")).await;
    assert_eq!(text, "تعذر الرد الآن. حاول لاحقا.");
    let events = app.audit_events("action=citizen.history").await;
    assert_eq!(events[0]["outcome"], "registry_unavailable");
}

async fn a_flood_from_one_number_or_for_one_id_stays_within_the_hourly_limits(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let before = app.upstream_requests("national_id").await;
    let first = ask_text(&app, OWNER, &format!("HISTORY {FIXTURE}")).await;
    assert!(first.starts_with("No one looked at your data"), "{first}");
    for _ in 0..3 {
        let again = ask_text(&app, OWNER, &format!("HISTORY {FIXTURE}")).await;
        assert_eq!(again, "You can ask for your history once an hour. Please try later.");
    }
    assert_eq!(app.upstream_requests("national_id").await, before + 1, "the flood never reached the registry");

    // Many numbers for one ID: at most lookups_per_id_per_hour (5) reach the
    // registry; the rest are told to try later, strangers or not.
    for i in 0..4 {
        let _ = ask_text(&app, &stranger(i), &format!("سجل {FIXTURE}")).await;
    }
    assert_eq!(app.upstream_requests("national_id").await, before + 5);
    for i in 4..7 {
        assert_eq!(ask_text(&app, &stranger(i), &format!("سجل {FIXTURE}")).await, "تعذر الرد الآن. حاول لاحقا.");
    }
    assert_eq!(app.upstream_requests("national_id").await, before + 5);
}

async fn hundreds_of_accesses_stay_within_max_segments_and_the_rest_are_counted(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.citizens.history_per_hour = 2).await;
    let center = app.token("center-demo").await;
    for _ in 0..250 {
        assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    }
    for (text, english) in [(format!("سجل {FIXTURE}"), false), (format!("HISTORY {FIXTURE}"), true)] {
        let reply = ask(&app, OWNER, &text).await;
        assert!(reply["segments"].as_u64().unwrap() <= 3, "{reply}");
        let text = reply["text"].as_str().unwrap();
        let lines = expected_lines(&app, FIXTURE, &[], english).await;
        assert_eq!(lines.len(), 250);
        let body: Vec<&str> = text.lines().skip(1).collect();
        let (shown, more) = body.split_at(body.len() - 1);
        assert!(!shown.is_empty(), "{text}");
        assert_eq!(shown, &lines[..shown.len()]);
        let rest = 250 - shown.len();
        assert_eq!(more[0], if english { format!("and {rest} more") } else { format!("و{rest} غيرها") });
    }
}

async fn a_hidden_client_s_calls_are_recorded_but_never_shown(backend: Backend) {
    let clients = std::fs::read_to_string(common::repo_file("config/clients.toml")).unwrap();
    let clients =
        clients.replacen("center_id = \"CAI-NSR-01\"", "center_id = \"CAI-NSR-01\"\nhidden_from_citizens = true", 1);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), clients).unwrap();
    let path = file.path().to_owned();
    let app = TestApp::spawn_on_with(backend, move |s| s.auth.clients_file = path).await;
    let center = app.token("center-demo").await;
    let hidden = app.token("center2-demo").await;
    assert_eq!(verify(&app, &hidden, FIXTURE, "shop_license").await, 200);
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    assert_eq!(verify(&app, &hidden, FIXTURE, "shop_license").await, 200);
    let text = ask_text(&app, OWNER, &format!("HISTORY {FIXTURE}")).await;
    let lines = expected_lines(&app, FIXTURE, &["center2-demo"], true).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(text, format!("Who looked at your data in the last 180 days:\n{}", lines[0]));
    assert!(!text.contains("Cairo"));
    let recorded = app.audit_events(&format!("subject={FIXTURE}&client_id=center2-demo")).await;
    assert_eq!(recorded.len(), 2, "the hidden client's calls are in the log");
}

async fn notify_sends_one_alert_per_interval_summarising_the_calls_until_stop(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.citizens.notify_interval_seconds = 3).await;
    let center = app.token("center-demo").await;
    assert_eq!(ask_text(&app, OTHER_OWNER, &format!("NOTIFY {FIXTURE}")).await, nothing_in_english());
    let on = ask_text(&app, OWNER, &format!("تنبيه {FIXTURE}")).await;
    assert_eq!(on, "سنرسل لك رسالة كلما اطلع أحد على بياناتك. للإيقاف أرسل إيقاف إلى 5960");

    let sent = smsc_messages(&app, OWNER).await.len();
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    let alert = nth_message(&app, OWNER, sent + 1).await;
    let alert = alert["text"].as_str().unwrap().to_owned();
    assert!(alert.starts_with("اطلع على بياناتك 1 مرة منذ "), "{alert}");
    assert!(alert.contains("في الشرقية") && !alert.contains("SHR-ZAG"), "{alert}");
    // No call reaches the stranger.
    assert_eq!(smsc_messages(&app, OTHER_OWNER).await.len(), 1);

    // Two calls within the interval: one alert after it, counting both.
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    assert_eq!(verify(&app, &center, FIXTURE, "shop_license").await, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smsc_messages(&app, OWNER).await.len(), sent + 1, "at most one alert per interval");
    let second = nth_message(&app, OWNER, sent + 2).await;
    assert!(second["text"].as_str().unwrap().starts_with("اطلع على بياناتك 2 مرة منذ "), "{second}");

    // STOP ends it.
    let _ = ask_text(&app, OWNER, "STOP").await;
    let after_stop = smsc_messages(&app, OWNER).await.len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(verify(&app, &center, FIXTURE, "building_permit").await, 200);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(smsc_messages(&app, OWNER).await.len(), after_stop, "no alert after STOP");
    let outcomes: Vec<String> =
        app.audit_events("action=citizen.notify").await.iter().map(|e| e["outcome"].as_str().unwrap().into()).collect();
    assert_eq!(outcomes, ["watching", "other_number"]);
}

on_both_backends!(
    the_registered_number_gets_exactly_the_logged_accesses_and_a_stranger_learns_nothing,
    every_case_that_may_learn_nothing_gets_the_reply_of_nonsense,
    mixed_digits_and_spacing_are_the_same_request,
    the_registry_down_gets_try_later_and_no_history,
    a_flood_from_one_number_or_for_one_id_stays_within_the_hourly_limits,
    hundreds_of_accesses_stay_within_max_segments_and_the_rest_are_counted,
    a_hidden_client_s_calls_are_recorded_but_never_shown,
    notify_sends_one_alert_per_interval_summarising_the_calls_until_stop,
);
