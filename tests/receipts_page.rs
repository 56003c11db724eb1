//! `GET /receipts`, the page where anyone checks a receipt (CONTRACT §11),
//! in a real headless Chromium: Arabic first, paste a code, genuine or not
//! and why, what the receipt says, the English switch, a `#BW1:…` link, and
//! scanning offered only where the browser has `BarcodeDetector`. Also: the
//! auditors' page names every audit action, `receipt.qr` included.
//!
//! The browser test needs the Debian packages `chromium` and
//! `chromium-driver`; without them it says `skipped: no chromium`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::{TestApp, verify_body};
use serde_json::{Value, json};

const VERDICT: &str = "const r = document.getElementById('result');
    if (r.hidden || !r.dataset.valid) return null;
    return [r.dataset.valid, r.dataset.reason, document.getElementById('verdict').textContent,
            document.getElementById('reason').textContent, document.getElementById('details').innerText];";

async fn submit(b: &Browser, code: &str) -> Value {
    // A fresh result each time: the previous one is cleared first.
    b.js("const r = document.getElementById('result'); r.hidden = true; delete r.dataset.valid;", vec![]).await;
    b.set_value("#code", code).await;
    b.click("#verify").await;
    b.wait_for("a verdict", VERDICT, vec![]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_tells_a_genuine_receipt_from_a_tampered_one() {
    let Some(b) = Browser::start().await else {
        println!("skipped: no chromium");
        return;
    };
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut body = verify_body("29001011300036", json!({"full_name": "محمد أحمد علي"}));
    body["receipt"] = json!(true);
    let (status, answer) = app.verify(&token, &body).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["receipt"]["code"].as_str().unwrap().to_owned();

    let page = app.http.get(app.url("/receipts")).send().await.unwrap();
    let csp = page.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{csp}");

    b.goto(&app.url("/receipts")).await;
    let lang = b.js("return [document.documentElement.lang, document.documentElement.dir]", vec![]).await;
    assert_eq!(lang, json!(["ar", "rtl"]));

    let genuine = submit(&b, &code).await;
    assert_eq!(genuine[0], "true", "{genuine}");
    assert_eq!(genuine[2], "إيصال أصلي");
    let details = genuine[4].as_str().unwrap();
    for said in ["الرقم القومي (الأحوال المدنية)", "تطابق", "الاسم الكامل: مطابق", "SHR-ZAG-01", "SHR-2025-000123"]
    {
        assert!(details.contains(said), "{said} not in {details}");
    }
    assert!(!details.contains("29001011300036"), "{details}");

    let cut = submit(&b, &code[..code.len() - 4]).await;
    assert_eq!(cut[0], "false", "{cut}");
    assert_eq!(cut[2], "إيصال غير أصلي");
    assert!(["encoding", "structure"].contains(&cut[1].as_str().unwrap()), "{cut}");
    assert!(!cut[3].as_str().unwrap().is_empty(), "a reason is shown: {cut}");

    b.click("#lang-switch").await;
    let english = b.wait_for("English", VERDICT, vec![]).await;
    assert_eq!(english[2], "Not a genuine receipt", "{english}");
    assert!(english[3].as_str().unwrap().contains("damaged") || english[3].as_str().unwrap().contains("signature"));
    let english_lang = b.js("return document.documentElement.lang", vec![]).await;
    assert_eq!(english_lang, "en");
    let other = submit(&b, "HC1:6BFOXN").await;
    assert_eq!((other[1].clone(), other[2].clone()), (json!("not_a_receipt"), json!("Not a genuine receipt")));

    // A link that carries the code after '#', opened afresh.
    b.goto("about:blank").await;
    let encoded: String = code
        .bytes()
        .map(|c| if c.is_ascii_alphanumeric() || c == b':' { (c as char).to_string() } else { format!("%{c:02X}") })
        .collect();
    b.goto(&format!("{}#{encoded}", app.url("/receipts"))).await;
    let linked = b.wait_for("a verdict from the link", VERDICT, vec![]).await;
    assert_eq!(linked[0], "true", "{linked}");

    // Scanning where the browser can, pasting otherwise; never both, never nothing.
    let offered = b
        .js(
            "const shown = (id) => document.getElementById(id).offsetParent !== null;
             return [shown('scan') || shown('photo-label'), shown('scan-unavailable'), 'BarcodeDetector' in window]",
            vec![],
        )
        .await;
    assert_ne!(offered[0], offered[1], "either scanning or the paste hint: {offered}");
    if offered[2] == false {
        assert_eq!(offered[1], true, "without BarcodeDetector the page says to paste: {offered}");
    }

    // Nothing came from anywhere but the gateway.
    let origins =
        b.js("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)", vec![]).await;
    for origin in origins.as_array().unwrap() {
        assert_eq!(origin.as_str().unwrap(), app.base.trim_end_matches('/'), "{origins}");
    }
    b.close().await;
}

#[tokio::test]
async fn the_auditors_page_names_every_action() {
    let app = TestApp::spawn().await;
    let script = app.http.get(app.url("/audit/app.js")).send().await.unwrap().text().await.unwrap();
    for action in bawaba::audit::Action::ALL {
        assert!(script.contains(&format!("[\"{}\",", action.as_str())), "the auditors' page lacks {}", action.as_str());
    }
}
