//! The commercial-register connector against the sandbox, over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{capture_one_request, client_with_timeout, start_sandbox, unreachable_base_url};
use connectors::commercial_register::{CommercialRegisterRegistry, CompanyKey, CompanyRecord, CompanyStatus};
use connectors::{Lookup, Registry, UpstreamError};
use serde_json::json;
use time::macros::date;

fn key(office: &str, number: &str) -> CompanyKey {
    CompanyKey { office: office.into(), registration_number: number.into() }
}

async fn fetch(
    registry: &CommercialRegisterRegistry,
    office: &str,
    number: &str,
) -> Result<Lookup<CompanyRecord>, UpstreamError> {
    registry.fetch(&key(office, number)).await
}

#[tokio::test]
async fn every_commercial_register_fixture_is_fetched_as_tabled() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    let expected = [
        ("123456", "ZAGAZIG", "مخبز النور", "29001011300036", CompanyStatus::Active, date!(2028 - 06 - 30)),
        ("654321", "CAIRO", "شركة الأمل للتجارة", "28507150100022", CompanyStatus::StruckOff, date!(2020 - 01 - 01)),
        ("777001", "GIZA", "ورشة يوسف للنجارة", "29505058800051", CompanyStatus::Suspended, date!(2027 - 03 - 31)),
    ];
    for (number, office, trade_name, owner, status, expires_on) in expected {
        assert_eq!(
            fetch(&registry, office, number).await,
            Ok(Lookup::Found(CompanyRecord {
                registration_number: number.into(),
                office: office.into(),
                trade_name: trade_name.into(),
                owner_national_id: owner.into(),
                status,
                expires_on,
            })),
            "{office}/{number}"
        );
    }
}

#[tokio::test]
async fn the_absent_fixture_is_not_found() {
    let sandbox = start_sandbox().await;
    assert_eq!(fetch(&sandbox.commercial_register(), "ZAGAZIG", "999999").await, Ok(Lookup::NotFound));
}

#[tokio::test]
async fn a_number_is_found_only_in_its_own_office() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    assert_eq!(fetch(&registry, "CAIRO", "123456").await, Ok(Lookup::NotFound));
    assert_eq!(fetch(&registry, "ZAGAZIG", "0123456").await, Ok(Lookup::NotFound));
    assert_eq!(fetch(&registry, "NOWHERE", "123456").await, Ok(Lookup::NotFound));
    assert_eq!(fetch(&registry, "KAFR EL SHEIKH", "123456").await, Ok(Lookup::NotFound));
    for number in 999_990..=999_999 {
        assert_eq!(fetch(&registry, "CAIRO", &number.to_string()).await, Ok(Lookup::NotFound), "{number}");
    }
}

#[tokio::test]
async fn synthetic_companies_listed_by_the_sandbox_are_found() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    let (_, listed) = sandbox.get_json("/_population?registry=commercial_register&limit=25").await;
    let companies = listed["companies"].as_array().expect("a list");
    assert_eq!(companies.len(), 25);
    for company in companies {
        let office = company["office"].as_str().expect("an office");
        let number = company["registration_number"].as_str().expect("a number");
        let Ok(Lookup::Found(record)) = fetch(&registry, office, number).await else {
            panic!("{office}/{number} not found");
        };
        assert_eq!((record.office.as_str(), record.registration_number.as_str()), (office, number));
        assert!(connectors::sandbox::population().contains(&record.owner_national_id));
    }
}

#[tokio::test]
async fn an_ill_formed_key_is_rejected_by_the_registry() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    for (office, number) in [("zagazig", "123456"), ("ZAGAZIG", "12345678901"), ("ZAGAZIG", "12a")] {
        assert_eq!(
            fetch(&registry, office, number).await,
            Err(UpstreamError::Rejected("registry error INVALID_REQUEST".into())),
            "{office}/{number}"
        );
    }
}

#[tokio::test]
async fn a_key_that_cannot_be_put_in_a_path_is_rejected_without_a_request() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    assert!(matches!(fetch(&registry, "..", "1").await, Err(UpstreamError::Rejected(_))));
    assert!(matches!(fetch(&registry, "CAIRO", "").await, Err(UpstreamError::Rejected(_))));
    assert_eq!(sandbox.requests("commercial_register").await, 0);
}

#[tokio::test]
async fn path_segments_are_percent_encoded_on_the_wire() {
    let (base_url, captured) =
        capture_one_request(404, "application/json", json!({"error": {"code": "NOT_FOUND"}}).to_string()).await;
    let registry = CommercialRegisterRegistry::new(reqwest::Client::new(), &format!("{base_url}/"));
    let outcome = fetch(&registry, "ZAGAZIG/registrations/1?x=#", "12 3").await;
    assert_eq!(outcome, Ok(Lookup::NotFound));
    let captured = captured.await.expect("captured");
    assert_eq!(
        captured.request_line,
        "GET /commercial-register/v1/offices/ZAGAZIG%2Fregistrations%2F1%3Fx%3D%23/registrations/12%203 HTTP/1.1"
    );
    assert_eq!(captured.header("accept"), Some("application/json"));
}

#[tokio::test]
async fn an_answer_about_another_registration_is_malformed() {
    let answer = json!({"registration": {"registration_number": "123456", "office": "CAIRO", "trade_name": "x",
        "owner_national_id": "29001011300036", "status": "active", "expires_on": "2028-06-30"}});
    let (base_url, _captured) = capture_one_request(200, "application/json", answer.to_string()).await;
    let registry = CommercialRegisterRegistry::new(reqwest::Client::new(), &base_url);
    assert!(matches!(fetch(&registry, "ZAGAZIG", "123456").await, Err(UpstreamError::Malformed(_))));
}

#[tokio::test]
async fn an_error_envelope_inside_a_200_is_classified_by_its_code() {
    let answer = json!({"error": {"code": "UNAVAILABLE", "message": "maintenance"}});
    let (base_url, _captured) = capture_one_request(200, "application/json", answer.to_string()).await;
    let registry = CommercialRegisterRegistry::new(reqwest::Client::new(), &base_url);
    assert_eq!(
        fetch(&registry, "ZAGAZIG", "123456").await,
        Err(UpstreamError::Unavailable("registry error UNAVAILABLE".into()))
    );
}

#[tokio::test]
async fn http_503_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "commercial_register", "mode": "http_503"})).await;
    assert_eq!(
        fetch(&sandbox.commercial_register(), "ZAGAZIG", "123456").await,
        Err(UpstreamError::Unavailable("HTTP 503".into()))
    );
}

#[tokio::test]
async fn a_timeout_fault_ends_in_the_callers_timeout() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "commercial_register", "mode": "timeout"})).await;
    let registry = CommercialRegisterRegistry::new(client_with_timeout(300), &sandbox.base_url);
    let started = Instant::now();
    assert_eq!(fetch(&registry, "ZAGAZIG", "123456").await, Err(UpstreamError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let waited =
        tokio::time::timeout(Duration::from_millis(300), fetch(&sandbox.commercial_register(), "ZAGAZIG", "123456"))
            .await;
    assert!(waited.is_err(), "without a client timeout the call is still pending");
}

#[tokio::test]
async fn a_reset_connection_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "commercial_register", "mode": "reset"})).await;
    let outcome = fetch(&sandbox.commercial_register(), "ZAGAZIG", "123456").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_malformed_answer_is_reported_as_malformed() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "commercial_register", "mode": "malformed"})).await;
    let outcome = fetch(&sandbox.commercial_register(), "ZAGAZIG", "123456").await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
}

#[tokio::test]
async fn faults_of_other_registries_leave_the_commercial_register_alone() {
    let sandbox = start_sandbox().await;
    for registry in ["national_id", "real_estate", "security", "smsc"] {
        sandbox.set_fault(json!({"registry": registry, "mode": "reset"})).await;
    }
    assert!(matches!(fetch(&sandbox.commercial_register(), "ZAGAZIG", "123456").await, Ok(Lookup::Found(_))));
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    let registry = CommercialRegisterRegistry::new(reqwest::Client::new(), &unreachable_base_url());
    let outcome = fetch(&registry, "ZAGAZIG", "123456").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn every_fetch_is_exactly_one_request_counted_for_the_commercial_register() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.commercial_register();
    sandbox.set_fault(json!({"registry": "commercial_register", "mode": "http_503"})).await;
    let _ = fetch(&registry, "ZAGAZIG", "123456").await;
    sandbox.clear_faults().await;
    let _ = fetch(&registry, "ZAGAZIG", "123456").await;
    let _ = fetch(&registry, "ZAGAZIG", "999999").await;
    assert_eq!(sandbox.requests("commercial_register").await, 3);
    assert_eq!(sandbox.requests("national_id").await, 0);
}

#[tokio::test]
async fn other_methods_and_paths_get_json_errors() {
    let sandbox = start_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.url("/commercial-register/v1/offices/ZAGAZIG/registrations/123456"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET"));
    let (status, body) = sandbox.get_json("/commercial-register/v1/offices/ZAGAZIG").await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "UNKNOWN_PATH");
}

#[test]
fn the_registry_is_named_commercial_register() {
    assert_eq!(<CommercialRegisterRegistry as Registry>::NAME, "commercial_register");
}
