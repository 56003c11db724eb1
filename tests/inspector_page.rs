//! The inspectors' views of `/audit` (CONTRACT §13) in a real headless
//! Chromium: the centers as a sortable table ranked by calls, a center's
//! daily chart, and the signals of planted guessing and off-hours lookups,
//! each linked to its events; Arabic first, then English.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`; without them
//! it says `skipped: no chromium`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::{TestApp, verify_body};
use serde_json::{Value, json};

const CITIZEN: &str = "29001011300036";

/// The centers table, top to bottom: [center, calls].
const CENTERS: &str = "
    if (document.getElementById('inspect').getAttribute('aria-busy')) return null;
    const rows = Array.from(document.querySelectorAll('#centers-body tr')).map(tr => [
        tr.dataset.center, Number(tr.querySelector('[data-col=total]').textContent)]);
    return rows.length === arguments[0] ? rows : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_ranks_centers_charts_one_and_follows_a_signal_to_its_events() {
    let Some(b) = Browser::start().await else {
        println!("skipped: no chromium");
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let clients = common::clients_with_hours(files.path());
    let app = TestApp::spawn_with(|s| s.auth.clients_file = clients).await;
    // center-demo, off hours: a guessing run (five mismatches, two stopped) and three lookups.
    let center = app.token("center-demo").await;
    let mut guessing_ids = Vec::new();
    for mother in ["زينب علي", "مريم حسن", "خديجة محمود", "عائشة سيد", "نفيسة عمر", "هدى سامي", "منى فؤاد"]
    {
        let body = verify_body(CITIZEN, json!({ "mother_name": mother }));
        let r = app.post_json("/v1/national-id/verify", &center, &body).await;
        guessing_ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    for id in app.population(3).await {
        assert_eq!(app.verify(&center, &verify_body(&id, json!({}))).await.0, 200);
    }
    // center2-demo, within its hours: two lookups.
    let other = app.token("center2-demo").await;
    for _ in 0..2 {
        assert_eq!(app.verify(&other, &verify_body(CITIZEN, json!({"gender": "male"}))).await.0, 200);
    }

    b.goto(&app.url("/audit")).await;
    b.wait_for("the scripts to run", "return document.body.dataset.ready === 'true'", vec![]).await;
    let heading = b.js("return document.getElementById('centers-heading').textContent", vec![]).await;
    assert!(heading.as_str().unwrap().contains("المراكز"), "Arabic first: {heading}");
    b.type_into("#client-id", "auditor-demo").await;
    b.type_into("#client-secret", "auditor-demo-secret").await;
    b.click("#sign-in").await;

    // Ranked by calls (each center's token request is one of them).
    let rows = b.wait_for("the centers table", CENTERS, vec![json!(2)]).await;
    assert_eq!(rows, json!([["SHR-ZAG-01", 11], ["CAI-NSR-01", 3]]));
    let headers =
        b.js("return Array.from(document.querySelectorAll('#centers-head th')).map(t => t.textContent)", vec![]).await;
    assert_eq!(headers[0], "المركز", "{headers}");
    // Sorted by center name, then by name the other way.
    b.click("#centers-head th[data-sort=center]").await;
    assert_eq!(b.wait_for("sorted by center", CENTERS, vec![json!(2)]).await[0][0], "CAI-NSR-01");
    b.click("#centers-head th[data-sort=center]").await;
    assert_eq!(b.wait_for("sorted back", CENTERS, vec![json!(2)]).await[0][0], "SHR-ZAG-01");
    let sort =
        b.js("return document.querySelector('#centers-head th[data-sort=center]').getAttribute('aria-sort')", vec![]);
    assert_eq!(sort.await, "descending");
    // Mismatch share of center-demo: 5 of 8 answered verifications.
    let share = b.js("return document.querySelector('#centers-body tr[data-center=SHR-ZAG-01] [data-col=mismatch_share]').textContent", vec![]);
    assert_eq!(share.await, "62.5%");

    // A center's daily chart: today's bar holds its calls.
    b.click("#centers-body tr[data-center=SHR-ZAG-01]").await;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let bar = b
        .wait_for(
            "the center's chart",
            "const g = document.querySelector('#center-chart g.day');
             return g && !document.getElementById('center-chart').hasAttribute('hidden')
                 ? [g.dataset.day, Number(g.dataset.count)] : null;",
            vec![],
        )
        .await;
    assert_eq!(bar, json!([today, 11]));

    // The signals: the planted guessing and the off-hours lookups, none for center2-demo.
    let kinds = b
        .wait_for(
            "the signals",
            "if (document.getElementById('signals').getAttribute('aria-busy')) return null;
             return Array.from(document.querySelectorAll('#signals-body tr')).map(tr =>
                 [tr.dataset.kind, tr.querySelector('[data-col=center]').textContent,
                  tr.querySelector('[data-col=operator]').textContent, Number(tr.querySelector('[data-col=count]').textContent)])",
            vec![],
        )
        .await;
    let kinds = kinds.as_array().unwrap();
    assert!(kinds.contains(&json!(["claim_guessing", "SHR-ZAG-01", "EMP-1001", 7])), "{kinds:?}");
    assert!(
        kinds.contains(&json!(["off_hours", "SHR-ZAG-01", "EMP-1001", 8])),
        "five answered guesses, three lookups: {kinds:?}"
    );
    assert!(kinds.iter().all(|k| k[1] != "CAI-NSR-01"), "{kinds:?}");
    let label = b.js(
        "return document.querySelector('#signals-body tr[data-kind=claim_guessing] [data-col=kind]').textContent",
        vec![],
    );
    assert_eq!(label.await, "تخمين بيانات");

    // Following the guessing signal: the events table shows exactly its events.
    b.click("#signals-body tr[data-kind=claim_guessing] button").await;
    let shown = b
        .wait_for(
            "the signal's events",
            "if (document.getElementById('results').getAttribute('aria-busy')) return null;
             const ids = Array.from(document.querySelectorAll('#results tbody tr')).map(tr => tr.dataset.id);
             return ids.length === arguments[0] ? ids : null;",
            vec![json!(7)],
        )
        .await;
    let mut shown: Vec<String> = shown.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    shown.sort();
    guessing_ids.sort();
    assert_eq!(shown, guessing_ids);
    let subject = b.js("return document.getElementById('filter-subject').value", vec![]).await;
    assert_eq!(subject, CITIZEN);

    // English.
    b.click("#lang-switch").await;
    let english = b
        .js(
            "return [document.querySelector('#centers-head th').textContent,
                     document.querySelector('#signals-body tr[data-kind=off_hours] [data-col=kind]').textContent,
                     document.getElementById('signals-heading').textContent]",
            vec![],
        )
        .await;
    assert_eq!(english, json!(["Center", "Off hours", "Signals to review (last 31 days)"]));

    // One governorate: the options are the codes of the centers seen; the
    // table is read with the governorate filter, the signals are its centers'.
    let options =
        b.js("return Array.from(document.querySelectorAll('#inspect-governorate option')).map(o => o.value)", vec![]);
    assert_eq!(options.await, json!(["", "CAI", "SHR"]));
    b.js(
        "const s = document.getElementById('inspect-governorate');
         s.value = 'CAI'; s.dispatchEvent(new Event('change')); return null;",
        vec![],
    )
    .await;
    let rows = b.wait_for("one governorate's centers", CENTERS, vec![json!(1)]).await;
    assert_eq!(rows, json!([["CAI-NSR-01", 3]]));
    let signals = b
        .wait_for(
            "the governorate's signals",
            "return document.getElementById('signals').getAttribute('aria-busy') ? null
                 : document.querySelectorAll('#signals-body tr').length",
            vec![],
        )
        .await;
    assert_eq!(signals, 0);
    let empty = b.js("return document.getElementById('signals-empty').hidden", vec![]).await;
    assert_eq!(empty, false);
    let _: Value = b.js("return null", vec![]).await;
    b.close().await;
}
