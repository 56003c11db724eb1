//! The sandbox's admin endpoints and HTTP behaviour, over loopback.

mod common;

use common::start_sandbox;
use connectors::sandbox::{check_digit, commercial_register, population, real_estate};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_population_endpoint_lists_one_hundred_ids_by_default_in_a_stable_order() {
    let sandbox = start_sandbox().await;
    let (status, first) = sandbox.get_json("/_population").await;
    assert_eq!(status, StatusCode::OK);
    let (_, second) = sandbox.get_json("/_population").await;
    let ids = first["national_ids"].as_array().expect("a list");
    assert_eq!(ids.len(), 100);
    assert_eq!(first, second);

    let (_, five) = sandbox.get_json("/_population?limit=5").await;
    assert_eq!(five["national_ids"].as_array().expect("a list")[..], ids[..5]);
}

#[tokio::test]
async fn listed_ids_are_valid_and_never_fixtures() {
    let sandbox = start_sandbox().await;
    let (_, listed) = sandbox.get_json("/_population?limit=1000").await;
    let ids = listed["national_ids"].as_array().expect("a list");
    assert_eq!(ids.len(), 1000);
    let fixtures =
        ["29001011300036", "28507150100022", "24003202100031", "30102100200041", "29505058800051", "29001011399997"];
    for id in ids {
        let id = id.as_str().expect("a string");
        assert_eq!(id.len(), 14);
        assert!(!fixtures.contains(&id), "{id} is a fixture");
        assert_eq!(check_digit(id), Some(id.as_bytes()[13] - b'0'), "{id} fails the check digit");
    }
}

#[tokio::test]
async fn a_limit_above_the_population_size_lists_everyone_once() {
    let sandbox = start_sandbox().await;
    let (_, listed) = sandbox.get_json("/_population?limit=10000000").await;
    let ids = listed["national_ids"].as_array().expect("a list");
    assert!(ids.len() >= 100_000);
    assert_eq!(ids.len(), population().synthetic_len());
}

#[tokio::test]
async fn a_limit_that_is_not_a_number_is_a_bad_request() {
    let sandbox = start_sandbox().await;
    for query in ["limit=abc", "limit=-1", "limit="] {
        let (status, body) = sandbox.get_json(&format!("/_population?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn the_population_endpoint_lists_companies_for_the_commercial_register() {
    let sandbox = start_sandbox().await;
    let (status, first) = sandbox.get_json("/_population?registry=commercial_register").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "only the companies: {first}");
    let companies = first["companies"].as_array().expect("a list");
    assert_eq!(companies.len(), 100);
    let (_, second) = sandbox.get_json("/_population?limit=100&registry=commercial_register").await;
    assert_eq!(first, second);
    let (_, five) = sandbox.get_json("/_population?registry=commercial_register&limit=5").await;
    assert_eq!(five["companies"].as_array().expect("a list")[..], companies[..5]);

    let fixtures = [("ZAGAZIG", "123456"), ("CAIRO", "654321"), ("GIZA", "777001"), ("ZAGAZIG", "999999")];
    for company in companies {
        let office = company["office"].as_str().expect("an office");
        let number = company["registration_number"].as_str().expect("a number");
        assert_eq!(company.as_object().map(|o| o.len()), Some(2));
        assert!(!fixtures.contains(&(office, number)), "{office}/{number} is a fixture");
        assert!(office.bytes().all(|b| b.is_ascii_uppercase()), "{office}");
        assert!((1..=10).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit()), "{number}");
    }
}

#[tokio::test]
async fn the_population_endpoint_lists_property_ids_for_real_estate() {
    let sandbox = start_sandbox().await;
    let (status, first) = sandbox.get_json("/_population?registry=real_estate").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first.as_object().map(|o| o.len()), Some(1), "only the property IDs: {first}");
    let ids = first["property_ids"].as_array().expect("a list");
    assert_eq!(ids.len(), 100);
    let (_, second) = sandbox.get_json("/_population?registry=real_estate").await;
    assert_eq!(first, second);
    let (_, seven) = sandbox.get_json("/_population?registry=real_estate&limit=7").await;
    assert_eq!(seven["property_ids"].as_array().expect("a list")[..], ids[..7]);
    let fixtures = ["SHR-ZAG-000123", "CAI-NSR-004567", "GIZ-DOK-000777", "SHR-ZAG-999999"];
    for id in ids {
        let id = id.as_str().expect("a string");
        assert!(!fixtures.contains(&id), "{id} is a fixture");
        let parts: Vec<&str> = id.split('-').collect();
        assert!(parts.len() == 3 && parts[0].len() == 3 && parts[1].len() == 3 && parts[2].len() == 6, "{id}");
    }
}

#[tokio::test]
async fn a_limit_above_a_registrys_size_lists_each_key_once() {
    let sandbox = start_sandbox().await;
    let (_, listed) = sandbox.get_json("/_population?registry=commercial_register&limit=10000000").await;
    let companies = listed["companies"].as_array().expect("a list");
    assert!(companies.len() >= 10_000);
    assert_eq!(companies.len(), commercial_register().synthetic().len());
    let keys: std::collections::HashSet<(&str, &str)> = companies
        .iter()
        .map(|c| (c["office"].as_str().expect("office"), c["registration_number"].as_str().expect("number")))
        .collect();
    assert_eq!(keys.len(), companies.len());

    let (_, listed) = sandbox.get_json("/_population?registry=real_estate&limit=10000000").await;
    let ids = listed["property_ids"].as_array().expect("a list");
    assert!(ids.len() >= 20_000);
    assert_eq!(ids.len(), real_estate().synthetic().len());
    let unique: std::collections::HashSet<&str> = ids.iter().map(|v| v.as_str().expect("id")).collect();
    assert_eq!(unique.len(), ids.len());
}

#[tokio::test]
async fn the_default_population_answer_is_the_national_id_one() {
    let sandbox = start_sandbox().await;
    let (_, default) = sandbox.get_json("/_population?limit=20").await;
    let (_, explicit) = sandbox.get_json("/_population?registry=national_id&limit=20").await;
    assert_eq!(default, explicit);
    assert_eq!(default.as_object().map(|o| o.len()), Some(1));
    assert_eq!(default["national_ids"].as_array().map(Vec::len), Some(20));
}

#[tokio::test]
async fn an_unknown_registry_or_a_bad_limit_is_a_bad_request_for_every_registry() {
    let sandbox = start_sandbox().await;
    for query in ["registry=tax", "registry=", "registry=security", "registry=real_estate&limit=x"] {
        let (status, body) = sandbox.get_json(&format!("/_population?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].is_string(), "{query}");
    }
}

#[tokio::test]
async fn stats_count_each_registry_separately() {
    let sandbox = start_sandbox().await;
    use connectors::Registry;
    let company =
        connectors::commercial_register::CompanyKey { office: "ZAGAZIG".into(), registration_number: "123456".into() };
    let _ = sandbox.commercial_register().fetch(&company).await;
    let _ = sandbox.commercial_register().fetch(&company).await;
    let _ = sandbox.real_estate().fetch(&"SHR-ZAG-000123".to_owned()).await;
    let check = connectors::security::Submission {
        reference: "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c".into(),
        national_id: "29001011300036".into(),
        check_type: connectors::security::CheckType::General,
    };
    let ticket = sandbox.security().submit(&check).await.expect("a ticket");
    let _ = sandbox.security().status(&ticket).await;
    let _ = sandbox.security().status(&ticket).await;
    let _ = sandbox.registry().fetch(&"29001011300036".to_owned()).await;
    let (_, stats) = sandbox.get_json("/_stats").await;
    assert_eq!(
        stats,
        json!({"requests": {"national_id": 1, "commercial_register": 2, "real_estate": 1, "security": 3, "smsc": 0}})
    );
}

#[tokio::test]
async fn stats_count_registry_requests_only() {
    let sandbox = start_sandbox().await;
    let (status, before) = sandbox.get_json("/_stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        before,
        json!({"requests": {"national_id": 0, "commercial_register": 0, "real_estate": 0, "security": 0, "smsc": 0}})
    );
    let registry = sandbox.registry();
    for id in ["29001011300036", "29001011399997", "28507150100022"] {
        let _ = connectors::Registry::fetch(&registry, &id.to_owned()).await;
    }
    sandbox.get_json("/_population?limit=1").await;
    sandbox.get_json("/nowhere").await;
    let (_, after) = sandbox.get_json("/_stats").await;
    assert_eq!(after["requests"]["national_id"], 3);
    assert_eq!(after["requests"]["commercial_register"], 0);
    assert_eq!(after["requests"]["smsc"], 0);
}

#[tokio::test]
async fn a_fault_request_is_answered_with_the_fault_it_sets() {
    let sandbox = start_sandbox().await;
    let (status, body) =
        sandbox.set_fault(json!({"registry": "commercial_register", "mode": "malformed", "latency_ms": 20})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"registry": "commercial_register", "latency_ms": 20, "error_rate": 1.0, "mode": "malformed"})
    );
    let (_, listed) = sandbox.get_json("/_faults").await;
    assert_eq!(listed["faults"].as_array().map(Vec::len), Some(1));
    sandbox.clear_faults().await;
    let (_, listed) = sandbox.get_json("/_faults").await;
    assert_eq!(listed["faults"], json!([]));
}

#[tokio::test]
async fn bad_fault_requests_get_400_with_a_json_error() {
    let sandbox = start_sandbox().await;
    for body in [
        json!({"registry": "tax_authority"}),
        json!({"registry": "national_id", "mode": "flood"}),
        json!({"registry": "national_id", "error_rate": 2}),
        json!({"registry": "national_id", "latency_ms": "slow"}),
        json!({"registry": "national_id", "colour": "red"}),
        json!({"mode": "reset"}),
    ] {
        let (status, answer) = sandbox.set_fault(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(answer["error"].is_string(), "{body}");
    }
    let response = sandbox.http.post(sandbox.url("/_faults")).body("{not json").send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_path_is_404_and_a_wrong_method_is_405() {
    let sandbox = start_sandbox().await;
    let (status, body) = sandbox.get_json("/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let response = sandbox.http.get(sandbox.url("/national-id/soap")).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
}

#[tokio::test]
async fn the_reset_fault_closes_the_connection_without_a_single_byte() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "reset"})).await;
    let body = "<x/>";
    let request = format!(
        "POST /national-id/soap HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        sandbox.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the connection is closed promptly");
    // A close or a reset: either way, no answer.
    assert!(read.is_err() || answer.is_empty(), "got {answer:?}");
}

#[tokio::test]
async fn the_malformed_fault_answers_200_with_a_body_that_is_neither_xml_nor_json() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "national_id", "mode": "malformed"})).await;
    let response = sandbox
        .http
        .post(sandbox.url("/national-id/soap"))
        .header("SOAPAction", "\"urn:bawaba:sandbox:national-id#GetCitizen\"")
        .body(connectors::national_id::codec::build_request("29001011300036"))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.expect("body");
    assert!(connectors::soap::parse_document(&body).is_err());
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
}

#[tokio::test]
async fn two_sandboxes_keep_separate_faults_and_counters() {
    let first = start_sandbox().await;
    let second = start_sandbox().await;
    first.set_fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let outcome = connectors::Registry::fetch(&second.registry(), &"29001011300036".to_owned()).await;
    assert!(outcome.is_ok());
    assert_eq!(first.national_id_requests().await, 0);
    assert_eq!(second.national_id_requests().await, 1);
}
