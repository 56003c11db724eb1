//! `GET /audit`, the auditors' page (CONTRACT §8): served self-contained under
//! a strict Content-Security-Policy, and used in a real headless Chromium —
//! Arabic first, sign-in, filters, paging, the daily-volume chart, exports,
//! and the switch to English.
//!
//! The browser test needs the Debian packages `chromium` and
//! `chromium-driver`; without them it says `skipped: no chromium`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::{TestApp, verify_body};
use serde_json::{Value, json};

const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";
/// The page shows 50 events a page; the second citizen gets a page and a bit.
const SECOND_CALLS: usize = 53;

/// Whether "Next" and "Previous" are disabled.
const PAGER: &str = "return [document.getElementById('next').disabled, document.getElementById('prev').disabled]";

/// Letters of the Arabic block, as a JS regular expression.
const ARABIC: &str = "/[\\u0600-\\u06FF]/";

/// Verifies `id` `n` times as center-demo; the audit event ids, oldest first.
async fn verify_times(app: &TestApp, token: &str, id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let (status, body) = app.verify(token, &verify_body(id, json!({}))).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["request_id"].as_str().expect("a request id").to_owned());
    }
    ids
}

/// Waits until the results table shows `n` rows, none loading, all for
/// `subject`; their event ids and actions, top to bottom.
async fn rows_of(b: &Browser, what: &str, n: usize, subject: &str) -> Vec<(String, String)> {
    let script = "
        if (document.getElementById('results').getAttribute('aria-busy')) return null;
        const rows = Array.from(document.querySelectorAll('#results tbody tr')).map(tr => [
            tr.dataset.id,
            tr.querySelector('[data-col=action]').textContent,
            tr.querySelector('[data-col=subject]').textContent,
        ]);
        return rows.length === arguments[0] && rows.every(r => r[2] === arguments[1]) ? rows : null;";
    let rows = b.wait_for(what, script, vec![json!(n), json!(subject)]).await;
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect()
}

fn ids(rows: &[(String, String)]) -> Vec<String> {
    rows.iter().map(|(id, _)| id.clone()).collect()
}

fn newest_first(ids: &[String]) -> Vec<String> {
    ids.iter().rev().cloned().collect()
}

async fn search_subject(b: &Browser, subject: &str) {
    b.type_into("#filter-subject", subject).await;
    b.click("#apply").await;
}

/// The texts of every label, header, heading, button and option that are (or
/// are not, with `arabic = false`) in Arabic, which must be none.
async fn texts_not_in(b: &Browser, arabic: bool) -> Value {
    let script = format!(
        "const arabic = {ARABIC};
         const els = document.querySelectorAll('label, th, h1, h2, button:not(#lang-switch), option, [data-i18n]');
         return Array.from(els).map(e => e.textContent.trim())
             .filter(t => t === '' || arabic.test(t) !== arguments[0]);"
    );
    b.js(&script, vec![json!(arabic)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_signs_in_filters_pages_charts_and_exports_in_arabic_then_english() {
    let Some(b) = Browser::start().await else {
        println!("skipped: no chromium");
        return;
    };
    let app = TestApp::spawn().await;
    let center = app.token("center-demo").await;
    let first_ids = verify_times(&app, &center, FIRST, 3).await;
    let second_ids = verify_times(&app, &center, SECOND, SECOND_CALLS).await;

    // Arabic, right to left, before anyone signs in.
    b.goto(&app.url("/audit")).await;
    b.wait_for("the script to run", "return document.body.dataset.ready === 'true'", vec![]).await;
    let root = b.js("return [document.documentElement.dir, document.documentElement.lang]", vec![]).await;
    assert_eq!(root, json!(["rtl", "ar"]));
    assert_eq!(texts_not_in(&b, true).await, json!([]), "every label is Arabic at first");
    assert!(b.js("return document.getElementById('workspace').hidden", vec![]).await == json!(true));

    // A wrong secret: a readable error, and still signed out.
    b.type_into("#client-id", "auditor-demo").await;
    b.type_into("#client-secret", "not-the-secret").await;
    b.click("#sign-in").await;
    let error = b
        .wait_for(
            "the sign-in error",
            "const e = document.getElementById('sign-in-error'); return e.hidden ? null : e.textContent;",
            vec![],
        )
        .await;
    assert!(error.as_str().unwrap().contains("غير صحيح"), "{error}");
    assert_eq!(b.js("return document.getElementById('workspace').hidden", vec![]).await, json!(true));

    // The right secret: the workspace, the newest events, and nothing kept in storage.
    b.type_into("#client-secret", "auditor-demo-secret").await;
    b.click("#sign-in").await;
    b.wait_for(
        "the first results",
        "return !document.getElementById('workspace').hidden
             && document.querySelectorAll('#results tbody tr').length > 0",
        vec![],
    )
    .await;
    let kept = b
        .js(
            "return [localStorage.length, sessionStorage.length, document.cookie,
                     document.getElementById('client-secret').value,
                     document.getElementById('sign-in-error').hidden]",
            vec![],
        )
        .await;
    assert_eq!(kept, json!([0, 0, "", "", true]), "the token stays in memory, the secret leaves the page");

    // One citizen: exactly their verify events, newest first, on one page.
    search_subject(&b, FIRST).await;
    let rows = rows_of(&b, "the first citizen's events", 3, FIRST).await;
    assert_eq!(ids(&rows), newest_first(&first_ids));
    assert!(rows.iter().all(|(_, action)| action == "national_id.verify"), "{rows:?}");
    let pager = b.js(PAGER, vec![]).await;
    assert_eq!(pager, json!([true, true]), "one page only");

    // The daily volume of the same filter, drawn as SVG bars that add up.
    let total = b
        .wait_for(
            "the volume chart",
            "const days = document.querySelectorAll('#chart svg g.day');
             if (!document.querySelector('#chart svg rect.bar') || days.length === 0) return null;
             return Array.from(days).reduce((sum, g) => sum + Number(g.dataset.count), 0);",
            vec![],
        )
        .await;
    assert_eq!(total, json!(3), "the chart counts the filtered events");

    // Paging through the second citizen's 53 events and back.
    search_subject(&b, SECOND).await;
    let page1 = rows_of(&b, "page 1 of the second citizen", 50, SECOND).await;
    assert_eq!(ids(&page1), newest_first(&second_ids)[..50]);
    b.click("#next").await;
    let page2 = rows_of(&b, "page 2 of the second citizen", SECOND_CALLS - 50, SECOND).await;
    assert_eq!(ids(&page2), newest_first(&second_ids)[50..]);
    assert_eq!(b.js(PAGER, vec![]).await, json!([true, false]));
    b.click("#prev").await;
    let back = rows_of(&b, "page 1 again", 50, SECOND).await;
    assert_eq!(ids(&back), ids(&page1));

    // Times are the counter PC's local time, sent in UTC: a window of an hour
    // around now holds the events, whatever the zone's offset.
    let window = b
        .js(
            "const p = n => String(n).padStart(2, '0');
             const f = d => `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T`
                 + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
             const now = Date.now();
             return [f(new Date(now - 3600e3)), f(new Date(now + 3600e3)), new Date().getTimezoneOffset()];",
            vec![],
        )
        .await;
    let (hour_ago, in_an_hour) = (window[0].as_str().unwrap(), window[1].as_str().unwrap());
    assert_ne!(window[2], json!(0), "the browser runs in a zone away from UTC");
    b.set_value("#filter-from", hour_ago).await;
    b.set_value("#filter-to", in_an_hour).await;
    search_subject(&b, FIRST).await;
    let rows = rows_of(&b, "the first citizen within the hour", 3, FIRST).await;
    assert_eq!(ids(&rows), newest_first(&first_ids));

    // A window the wrong way round: the API's problem, shown on the field, and
    // no rows left over from the search before.
    b.set_value("#filter-from", in_an_hour).await;
    b.set_value("#filter-to", hour_ago).await;
    b.click("#apply").await;
    let problem = b
        .wait_for(
            "the problem of a reversed window",
            "const e = document.getElementById('error');
             const stale = document.querySelectorAll('#results tbody tr').length;
             return e.hidden || stale || !document.getElementById('filter-to').getAttribute('aria-invalid')
                 ? null : e.textContent;",
            vec![],
        )
        .await;
    assert!(problem.as_str().unwrap().contains("حتى"), "the field error names the field's label: {problem}");

    // A window in the past: no rows, and the page says so.
    b.set_value("#filter-from", "").await;
    b.set_value("#filter-to", "2000-01-01T00:00").await;
    b.click("#apply").await;
    rows_of(&b, "an empty result", 0, FIRST).await;
    b.wait_for(
        "the empty-result note",
        "return !document.getElementById('empty').hidden && document.getElementById('error').hidden",
        vec![],
    )
    .await;

    // Exports of the filtered set, saved by the browser as files.
    b.set_value("#filter-to", "").await;
    search_subject(&b, FIRST).await;
    rows_of(&b, "the first citizen again", 3, FIRST).await;
    b.click("#export-csv").await;
    let (name, csv) = b.downloaded(".csv").await;
    assert!(name.starts_with("bawaba-audit-"), "{name}");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,seq,at,client_id,center_id,operator_id,action,subject"), "{}", lines[0]);
    let exported: Vec<String> = lines[1..].iter().map(|l| l.split(',').next().unwrap().to_owned()).collect();
    assert_eq!(exported, first_ids, "the CSV holds the filtered events, oldest first");
    b.click("#export-ndjson").await;
    let (_, ndjson) = b.downloaded(".ndjson").await;
    let events: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).expect("one JSON event a line")).collect();
    assert_eq!(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>(), first_ids);
    assert!(events.iter().all(|e| e["subject"] == FIRST));

    // English: left to right, and every label changes.
    b.click("#lang-switch").await;
    b.wait_for("English", "return document.documentElement.dir === 'ltr'", vec![]).await;
    assert_eq!(b.js("return document.documentElement.lang", vec![]).await, json!("en"));
    assert_eq!(texts_not_in(&b, false).await, json!([]), "no Arabic label is left in English");
    let labels = b
        .js(
            "return ['title', 'apply', 'next', 'export-csv'].map(id => document.getElementById(id).textContent)
                 .concat([document.querySelector('label[for=filter-subject]').textContent, document.title])",
            vec![],
        )
        .await;
    assert_eq!(
        labels,
        json!(["Audit log", "Search", "Next", "Export CSV", "National ID or subject", "Audit log — Bawaba"])
    );
    assert_eq!(b.js("return document.getElementById('lang-switch').textContent", vec![]).await, json!("العربية"));
    // The chart is redrawn in the new direction, the rows are kept.
    let chart = b
        .js(
            "return [document.querySelectorAll('#chart svg rect.bar').length > 0,
                     document.querySelector('#chart svg').getAttribute('aria-label'),
                     document.querySelectorAll('#results tbody tr').length]",
            vec![],
        )
        .await;
    assert_eq!(chart[0], json!(true));
    assert!(chart[1].as_str().unwrap().starts_with("Daily volume"), "{chart}");
    assert_eq!(chart[2], json!(3));

    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_load_nothing_from_another_origin() {
    let app = TestApp::spawn().await;
    let mut bodies = Vec::new();
    for (path, content_type) in
        [("/audit", "text/html"), ("/audit/app.js", "text/javascript"), ("/audit/style.css", "text/css")]
    {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(header("content-type").starts_with(content_type), "{path}: {}", header("content-type"));
        let csp = header("content-security-policy");
        for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{path}: {directive} missing from {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        let body = r.text().await.unwrap();
        let lower = body.to_ascii_lowercase();
        assert!(!lower.contains("http://") && !lower.contains("https://"), "{path} names another origin");
        bodies.push(body);
    }

    // Only this origin's own files and the empty data: icon are referenced,
    // and no script body or event handler is inline (the policy would block it).
    let html = &bodies[0];
    for attribute in ["src=\"", "href=\""] {
        for reference in html.split(attribute).skip(1) {
            let target = reference.split('"').next().unwrap();
            assert!(target.starts_with("/audit/") || target == "data:,", "{attribute}{target}");
        }
    }
    for script in html.split("<script").skip(1) {
        let (open, rest) = script.split_once('>').unwrap();
        assert!(open.contains("src="), "an inline script: <script{open}>");
        assert!(rest.starts_with("</script>"), "a script with a body");
    }
    let inline_handler = html.split_whitespace().any(|w| w.starts_with("on") && w.contains('='));
    assert!(!inline_handler, "an inline event handler");
    assert!(!html.contains("style=") && !html.contains("<style"), "inline style");
    assert!(html.contains("lang=\"ar\"") && html.contains("dir=\"rtl\""));
}
