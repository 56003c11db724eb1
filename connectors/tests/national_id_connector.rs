//! The national-ID connector against the sandbox, over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use common::start_sandbox;
use connectors::national_id::{CardStatus, CitizenRecord, Sex, codec};
use connectors::{Lookup, Registry, UpstreamError};
use serde_json::json;
use time::macros::date;

async fn fetch(
    registry: &connectors::national_id::NationalIdRegistry,
    id: &str,
) -> Result<Lookup<CitizenRecord>, UpstreamError> {
    registry.fetch(&id.to_owned()).await
}

#[tokio::test]
async fn every_national_id_fixture_is_fetched_with_its_registered_fields() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    let expected = [
        ("29001011300036", "محمد أحمد علي حسن", date!(1990 - 01 - 01), Sex::Male, "فاطمة حسن", true, CardStatus::Valid),
        (
            "28507150100022",
            "فاطمة الزهراء محمود عبد الله",
            date!(1985 - 07 - 15),
            Sex::Female,
            "زينب إبراهيم",
            true,
            CardStatus::Valid,
        ),
        (
            "24003202100031",
            "إبراهيم عبد الرحمن سيد",
            date!(1940 - 03 - 20),
            Sex::Male,
            "نفيسة عمر",
            false,
            CardStatus::Expired,
        ),
        (
            "30102100200041",
            "آية مصطفى كمال الدين",
            date!(2001 - 02 - 10),
            Sex::Female,
            "هدى سامي",
            true,
            CardStatus::ReportedLost,
        ),
        ("29505058800051", "يوسف أشرف السيد", date!(1995 - 05 - 05), Sex::Male, "منى فؤاد", true, CardStatus::Valid),
    ];
    for (id, name, birth_date, gender, mother, alive, card_status) in expected {
        let found = fetch(&registry, id).await;
        assert_eq!(
            found,
            Ok(Lookup::Found(CitizenRecord {
                national_id: id.to_owned(),
                full_name: name.to_owned(),
                birth_date,
                gender,
                mother_name: mother.to_owned(),
                alive,
                card_status,
            })),
            "fixture {id}"
        );
    }
}

#[tokio::test]
async fn the_absent_fixture_is_not_found() {
    let sandbox = start_sandbox().await;
    assert_eq!(fetch(&sandbox.registry(), "29001011399997").await, Ok(Lookup::NotFound));
}

#[tokio::test]
async fn an_id_with_a_reserved_serial_is_never_found() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    for serial in 9990..=9999 {
        let id = format!("290010113{serial}6");
        assert_eq!(fetch(&registry, &id).await, Ok(Lookup::NotFound), "{id}");
    }
}

#[tokio::test]
async fn synthetic_citizens_listed_by_the_sandbox_are_found() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    let (_, listed) = sandbox.get_json("/_population?limit=20").await;
    let ids = listed["national_ids"].as_array().expect("a list");
    assert_eq!(ids.len(), 20);
    for id in ids {
        let id = id.as_str().expect("a string");
        let Ok(Lookup::Found(citizen)) = fetch(&registry, id).await else {
            panic!("{id} not found");
        };
        assert_eq!(citizen.national_id, id);
        assert!(citizen.full_name.split(' ').count() >= 4);
    }
}

#[tokio::test]
async fn http_503_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    assert_eq!(fetch(&sandbox.registry(), "29001011300036").await, Err(UpstreamError::Unavailable("HTTP 503".into())));
}

#[tokio::test]
async fn a_timeout_fault_leaves_the_caller_waiting_until_its_own_timeout() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "timeout"})).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    let started = Instant::now();
    let outcome = fetch(&sandbox.registry_with(client), "29001011300036").await;
    assert_eq!(outcome, Err(UpstreamError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Without a client timeout the connector itself never gives up: the
    // gateway's timeout around it elapses.
    let waited = tokio::time::timeout(Duration::from_millis(300), fetch(&sandbox.registry(), "29001011300036")).await;
    assert!(waited.is_err(), "the call should still be pending");
}

#[tokio::test]
async fn a_reset_connection_makes_the_registry_unavailable() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "reset"})).await;
    let outcome = fetch(&sandbox.registry(), "29001011300036").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_malformed_answer_is_reported_as_malformed() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "malformed"})).await;
    let outcome = fetch(&sandbox.registry(), "29001011300036").await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
}

#[tokio::test]
async fn latency_delays_the_answer_but_does_not_fail_it() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "latency_ms": 300})).await;
    let started = Instant::now();
    let outcome = fetch(&sandbox.registry(), "29001011300036").await;
    assert!(matches!(outcome, Ok(Lookup::Found(_))), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn an_error_rate_of_one_half_gives_a_mix_of_answers_and_failures() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "error_rate": 0.5, "mode": "http_503"})).await;
    let registry = sandbox.registry();
    let (mut found, mut unavailable) = (0, 0);
    for _ in 0..60 {
        match fetch(&registry, "28507150100022").await {
            Ok(Lookup::Found(_)) => found += 1,
            Err(UpstreamError::Unavailable(_)) => unavailable += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(found >= 10 && unavailable >= 10, "{found} found, {unavailable} unavailable");
}

#[tokio::test]
async fn deleting_faults_brings_the_registry_back() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    sandbox.set_fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    assert!(fetch(&registry, "29001011300036").await.is_err());
    sandbox.clear_faults().await;
    assert!(matches!(fetch(&registry, "29001011300036").await, Ok(Lookup::Found(_))));
}

#[tokio::test]
async fn a_later_fault_for_a_registry_replaces_the_earlier_one() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "reset"})).await;
    sandbox.set_fault(json!({"registry": "national_id", "latency_ms": 10})).await;
    assert!(matches!(fetch(&sandbox.registry(), "29001011300036").await, Ok(Lookup::Found(_))));
}

#[tokio::test]
async fn faults_of_another_registry_leave_national_id_alone() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "real_estate", "mode": "reset"})).await;
    assert!(matches!(fetch(&sandbox.registry(), "29001011300036").await, Ok(Lookup::Found(_))));
}

#[tokio::test]
async fn a_request_without_soap_action_gets_a_client_fault() {
    let sandbox = start_sandbox().await;
    let response = sandbox
        .http
        .post(sandbox.url(codec::PATH))
        .header("content-type", codec::CONTENT_TYPE)
        .body(codec::build_request("29001011300036"))
        .send()
        .await
        .expect("answers");
    let status = response.status();
    let body = response.bytes().await.expect("body");
    assert_eq!(status, reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        codec::parse_response(status, &body),
        Err(UpstreamError::Rejected("client fault UNSUPPORTED_OPERATION".into()))
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_unavailable() {
    // Bind a port, then free it: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let registry = connectors::national_id::NationalIdRegistry::new(reqwest::Client::new(), &format!("http://{addr}"));
    let outcome = fetch(&registry, "29001011300036").await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn every_fetch_is_exactly_one_request_to_the_registry() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    sandbox.set_fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let _ = fetch(&registry, "29001011300036").await;
    sandbox.clear_faults().await;
    let _ = fetch(&registry, "29001011300036").await;
    let _ = fetch(&registry, "29001011399997").await;
    assert_eq!(sandbox.national_id_requests().await, 3);
}

#[test]
fn the_registry_is_named_national_id() {
    assert_eq!(<connectors::national_id::NationalIdRegistry as Registry>::NAME, "national_id");
}

// ---------------------------------------------------------------------------
// GetRegisteredMobile
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_fixtures_registered_mobiles_are_those_of_domain_md() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    for (id, expected) in [
        ("29001011300036", Some("+201001234567")),
        ("28507150100022", Some("+201112345678")),
        ("29505058800051", Some("+201298765432")),
        ("24003202100031", None),
        ("30102100200041", None),
    ] {
        let answer = registry.registered_mobile(id).await;
        assert_eq!(
            answer,
            Ok(Lookup::Found(connectors::national_id::RegisteredMobile {
                national_id: id.into(),
                mobile: expected.map(str::to_owned)
            })),
            "{id}"
        );
    }
    assert_eq!(registry.registered_mobile("29001011399997").await, Ok(Lookup::NotFound));
}

#[tokio::test]
async fn every_listed_synthetic_citizen_has_the_same_registered_mobile_each_time() {
    let sandbox = start_sandbox().await;
    let registry = sandbox.registry();
    let (_, listed) = sandbox.get_json("/_population?limit=20").await;
    for id in listed["national_ids"].as_array().expect("a list") {
        let id = id.as_str().expect("a string");
        let Ok(Lookup::Found(first)) = registry.registered_mobile(id).await else { panic!("{id} not found") };
        let number = first.mobile.clone().expect("every synthetic citizen has a number");
        assert!(connectors::national_id::mobile::is_e164_mobile(&number));
        assert_eq!(registry.registered_mobile(id).await, Ok(Lookup::Found(first)));
    }
}

#[tokio::test]
async fn the_mobile_request_names_its_own_soap_action() {
    let answer = connectors::national_id::mobile::build_response(&connectors::national_id::RegisteredMobile {
        national_id: "29001011300036".into(),
        mobile: Some("+201001234567".into()),
    });
    let (base, captured) = common::capture_one_request(200, codec::CONTENT_TYPE, answer).await;
    let registry = connectors::national_id::NationalIdRegistry::new(reqwest::Client::new(), &base);
    assert!(matches!(registry.registered_mobile("29001011300036").await, Ok(Lookup::Found(_))));
    let captured = captured.await.expect("captured");
    assert_eq!(captured.header("soapaction"), Some(connectors::national_id::mobile::SOAP_ACTION_HEADER));
    let body = String::from_utf8(captured.body).expect("UTF-8");
    assert!(body.contains("<nid:GetRegisteredMobileRequest><nid:NationalId>29001011300036</nid:NationalId>"));
}

#[tokio::test]
async fn a_mobile_answer_about_another_id_is_refused() {
    let answer = connectors::national_id::mobile::build_response(&connectors::national_id::RegisteredMobile {
        national_id: "28507150100022".into(),
        mobile: Some("+201112345678".into()),
    });
    let (base, _captured) = common::capture_one_request(200, codec::CONTENT_TYPE, answer).await;
    let registry = connectors::national_id::NationalIdRegistry::new(reqwest::Client::new(), &base);
    let outcome = registry.registered_mobile("29001011300036").await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
    assert!(!format!("{outcome:?}").contains("112345678"));
}

#[tokio::test]
async fn a_mobile_answer_with_a_repeated_number_is_refused() {
    let answer = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:nid="{}"><soap:Body>
        <nid:GetRegisteredMobileResponse><nid:RegisteredMobile><nid:NationalId>29001011300036</nid:NationalId>
        <nid:MobileNumber>+201001234567</nid:MobileNumber><nid:MobileNumber>+201112345678</nid:MobileNumber>
        </nid:RegisteredMobile></nid:GetRegisteredMobileResponse></soap:Body></soap:Envelope>"#,
        codec::NAMESPACE
    );
    let (base, _captured) = common::capture_one_request(200, codec::CONTENT_TYPE, answer).await;
    let registry = connectors::national_id::NationalIdRegistry::new(reqwest::Client::new(), &base);
    assert!(matches!(registry.registered_mobile("29001011300036").await, Err(UpstreamError::Malformed(_))));
}

#[tokio::test]
async fn the_mobile_operation_fails_with_the_registry_s_injected_faults() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    assert_eq!(
        sandbox.registry().registered_mobile("29001011300036").await,
        Err(UpstreamError::Unavailable("HTTP 503".into()))
    );
    sandbox.set_fault(json!({"registry": "national_id", "mode": "malformed"})).await;
    assert!(matches!(sandbox.registry().registered_mobile("29001011300036").await, Err(UpstreamError::Malformed(_))));
}
