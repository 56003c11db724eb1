//! The real-estate connector against the sandbox, over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{capture_one_request, client_with_timeout, start_sandbox, unreachable_base_url};
use connectors::real_estate::{PropertyRecord, RealEstateRegistry, RegistrationStatus, codec};
use connectors::{Lookup, Registry, UpstreamError};
use serde_json::json;

async fn fetch(registry: &RealEstateRegistry, id: &str) -> Result<Lookup<PropertyRecord>, UpstreamError> {
    registry.fetch(&id.to_owned()).await
}

#[tokio::test]
async fn every_real_estate_fixture_is_fetched_as_tabled() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.real_estate();
    let expected = [
        ("SHR-ZAG-000123", "29001011300036", RegistrationStatus::Registered, false),
        ("CAI-NSR-004567", "28507150100022", RegistrationStatus::Registered, true),
        ("GIZ-DOK-000777", "24003202100031", RegistrationStatus::Pending, false),
    ];
    for (id, owner, registration_status, encumbered) in expected {
        assert_eq!(
            fetch(&registry, id).await,
            Ok(Lookup::Found(PropertyRecord {
                property_id: id.into(),
                owner_national_id: owner.into(),
                registration_status,
                encumbered,
            })),
            "{id}"
        );
    }
}

#[tokio::test]
async fn the_absent_fixture_is_not_found_through_a_no_such_property_fault() {
    let sandbox = start_sandbox().await;
    assert_eq!(fetch(&sandbox.real_estate(), "SHR-ZAG-999999").await, Ok(Lookup::NotFound));
    // On the wire: a soap:Client fault with HTTP 500.
    let response = sandbox
        .http
        .post(sandbox.url(codec::PATH))
        .header("SOAPAction", codec::SOAP_ACTION_HEADER)
        .body(codec::build_request("SHR-ZAG-999999"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.text().await.expect("body");
    assert!(body.contains("<faultcode>soap:Client</faultcode>"));
    assert!(body.contains("<re:Code>PROPERTY_NOT_FOUND</re:Code>"));
}

#[tokio::test]
async fn reserved_numbers_and_other_well_formed_ids_are_not_found() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.real_estate();
    for number in 999_990..=999_999 {
        let id = format!("CAI-NSR-{number}");
        assert_eq!(fetch(&registry, &id).await, Ok(Lookup::NotFound), "{id}");
    }
    assert_eq!(fetch(&registry, "XYZ-ABC-000001").await, Ok(Lookup::NotFound));
}

#[tokio::test]
async fn a_server_fault_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    let id = format!("{}000001", connectors::sandbox::SERVER_FAULT_PREFIX);
    assert_eq!(
        fetch(&sandbox.real_estate(), &id).await,
        Err(UpstreamError::Unavailable("server fault INTERNAL_ERROR".into()))
    );
}

#[tokio::test]
async fn an_ill_formed_id_gets_a_client_fault_that_is_a_rejection() {
    let sandbox = start_sandbox().await;
    assert_eq!(
        fetch(&sandbox.real_estate(), "shr-zag-000123").await,
        Err(UpstreamError::Rejected("client fault INVALID_REQUEST".into()))
    );
}

#[tokio::test]
async fn a_request_without_soap_action_gets_a_client_fault() {
    let sandbox = start_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.url(codec::PATH))
        .header("content-type", codec::CONTENT_TYPE)
        .body(codec::build_request("SHR-ZAG-000123"))
        .send()
        .await
        .expect("answers");
    let status = response.status();
    let body = response.bytes().await.expect("body");
    assert_eq!(
        codec::parse_response(status, &body),
        Err(UpstreamError::Rejected("client fault UNSUPPORTED_OPERATION".into()))
    );
}

#[tokio::test]
async fn synthetic_properties_listed_by_the_sandbox_are_found() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.real_estate();
    let (_, listed) = sandbox.get_json("/_population?registry=real_estate&limit=25").await;
    let ids = listed["property_ids"].as_array().expect("a list");
    assert_eq!(ids.len(), 25);
    for id in ids {
        let id = id.as_str().expect("a string");
        let Ok(Lookup::Found(record)) = fetch(&registry, id).await else {
            panic!("{id} not found");
        };
        assert_eq!(record.property_id, id);
        assert!(connectors::sandbox::population().contains(&record.owner_national_id));
    }
}

#[tokio::test]
async fn the_request_on_the_wire_is_a_soap_post_with_the_action_header() {
    let answer = codec::build_fault(codec::FaultKind::NotFound);
    let (base_url, captured) = capture_one_request(500, "text/xml; charset=utf-8", answer).await;
    let registry = RealEstateRegistry::new(reqwest::Client::new(), &base_url);
    assert_eq!(fetch(&registry, "SHR-ZAG-000123").await, Ok(Lookup::NotFound));
    let captured = captured.await.expect("captured");
    assert_eq!(captured.request_line, "POST /real-estate/soap HTTP/1.1");
    assert_eq!(captured.header("soapaction"), Some(codec::SOAP_ACTION_HEADER));
    assert_eq!(captured.header("content-type"), Some(codec::CONTENT_TYPE));
    assert_eq!(codec::parse_request(&captured.body), Ok("SHR-ZAG-000123".into()));
}

#[tokio::test]
async fn an_answer_about_another_property_is_malformed() {
    let other = PropertyRecord {
        property_id: "CAI-NSR-004567".into(),
        owner_national_id: "28507150100022".into(),
        registration_status: RegistrationStatus::Registered,
        encumbered: true,
    };
    let (base_url, _captured) = capture_one_request(200, "text/xml", codec::build_response(&other)).await;
    let registry = RealEstateRegistry::new(reqwest::Client::new(), &base_url);
    assert!(matches!(fetch(&registry, "SHR-ZAG-000123").await, Err(UpstreamError::Malformed(_))));
}

#[tokio::test]
async fn http_503_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "http_503"})).await;
    assert_eq!(
        fetch(&sandbox.real_estate(), "SHR-ZAG-000123").await,
        Err(UpstreamError::Unavailable("HTTP 503".into()))
    );
}

#[tokio::test]
async fn a_timeout_fault_ends_in_the_callers_timeout() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "timeout"})).await;
    let registry = RealEstateRegistry::new(client_with_timeout(300), &sandbox.base_url);
    let started = Instant::now();
    assert_eq!(fetch(&registry, "SHR-ZAG-000123").await, Err(UpstreamError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let waited =
        tokio::time::timeout(Duration::from_millis(300), fetch(&sandbox.real_estate(), "SHR-ZAG-000123")).await;
    assert!(waited.is_err(), "without a client timeout the call is still pending");
}

#[tokio::test]
async fn a_reset_connection_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "reset"})).await;
    let outcome = fetch(&sandbox.real_estate(), "SHR-ZAG-000123").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_malformed_answer_is_reported_as_malformed() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "malformed"})).await;
    let outcome = fetch(&sandbox.real_estate(), "SHR-ZAG-000123").await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
}

#[tokio::test]
async fn latency_delays_the_answer_but_does_not_fail_it() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "latency_ms": 200})).await;
    let started = Instant::now();
    assert!(matches!(fetch(&sandbox.real_estate(), "SHR-ZAG-000123").await, Ok(Lookup::Found(_))));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    let registry = RealEstateRegistry::new(reqwest::Client::new(), &unreachable_base_url());
    let outcome = fetch(&registry, "SHR-ZAG-000123").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn every_fetch_is_exactly_one_request_counted_for_real_estate() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.real_estate();
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "reset"})).await;
    let _ = fetch(&registry, "SHR-ZAG-000123").await;
    sandbox.clear_faults().await;
    let _ = fetch(&registry, "SHR-ZAG-000123").await;
    let _ = fetch(&registry, "SHR-ZAG-999999").await;
    assert_eq!(sandbox.requests("real_estate").await, 3);
    assert_eq!(sandbox.requests("national_id").await, 0);
}

#[test]
fn the_registry_is_named_real_estate() {
    assert_eq!(<RealEstateRegistry as Registry>::NAME, "real_estate");
}
