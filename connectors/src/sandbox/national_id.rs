//! Simulator of the national-ID registry: SOAP 1.1 `GetCitizen` and
//! `GetRegisteredMobile` over the synthetic population and the fixtures
//! (`schemas/upstream/national_id.xsd`, `national_id_mobile.xsd`).

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};

use super::{Body, population, read_body, xml};
use crate::national_id::codec::{self, FaultKind};
use crate::national_id::{RegisteredMobile, mobile};

pub(super) use codec::PATH;

const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// `POST /national-id/soap`
pub(super) async fn handle(request: Request<Incoming>) -> Response<Body> {
    let operation = match soap_action(request.headers()) {
        Some(codec::SOAP_ACTION) => Operation::GetCitizen,
        Some(mobile::SOAP_ACTION) => Operation::GetRegisteredMobile,
        _ => return fault(FaultKind::UnsupportedOperation),
    };
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return fault(FaultKind::InvalidRequest);
    };
    if operation == Operation::GetRegisteredMobile {
        return match mobile::parse_request(&body) {
            Ok(national_id) => match super::mobiles::registered_mobile(&national_id) {
                Some(number) => {
                    xml(StatusCode::OK, mobile::build_response(&RegisteredMobile { national_id, mobile: number }))
                }
                None => fault(FaultKind::NotFound),
            },
            Err(kind) => fault(kind),
        };
    }
    let national_id = match codec::parse_request(&body) {
        Ok(id) => id,
        Err(kind) => return fault(kind),
    };
    match population().get(&national_id) {
        Some(citizen) => xml(StatusCode::OK, codec::build_response(&citizen)),
        None => fault(FaultKind::NotFound),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    GetCitizen,
    GetRegisteredMobile,
}

/// SOAP 1.1 asks for the header; its value may be quoted or not.
fn soap_action(headers: &HeaderMap) -> Option<&str> {
    headers.get("soapaction").and_then(|value| value.to_str().ok()).map(|value| value.trim().trim_matches('"'))
}

/// Faults go with HTTP 500, as SOAP 1.1 §6.2 says.
fn fault(kind: FaultKind) -> Response<Body> {
    xml(StatusCode::INTERNAL_SERVER_ERROR, codec::build_fault(kind))
}
