//! POST /v1/national-id/verify, black box.

mod common;

use common::{TestApp, verify_body};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_fixture_matches_its_three_name_claim_and_is_audited() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app
        .post_json(
            "/v1/national-id/verify",
            &token,
            &verify_body("29001011300036", json!({"full_name": "محمد احمد علي", "birth_date": "1990-01-01", "gender": "male"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"]["full_name"]["match"], true);
    assert_eq!(body["facts"], json!({"alive": true, "card_status": "valid"}));
    assert_eq!(body["request_id"], request_id.as_str());
    let events = app.audit_events("subject=29001011300036").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], request_id.as_str());
    assert_eq!(events[0]["action"], "national_id.verify");
    assert_eq!(events[0]["outcome"], "match");
    assert_eq!(events[0]["cache"], "miss");
}
