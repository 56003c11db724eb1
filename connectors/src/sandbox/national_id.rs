//! Simulator of the national-ID registry: SOAP 1.1 `GetCitizen` over the
//! synthetic population and the fixtures (`schemas/upstream/national_id.xsd`).

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};

use super::{Body, population, read_body, xml};
use crate::national_id::codec::{self, FaultKind};

pub(super) use codec::PATH;

const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// `POST /national-id/soap`
pub(super) async fn handle(request: Request<Incoming>) -> Response<Body> {
    if !soap_action_is_get_citizen(request.headers()) {
        return fault(FaultKind::UnsupportedOperation);
    }
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return fault(FaultKind::InvalidRequest);
    };
    let national_id = match codec::parse_request(&body) {
        Ok(id) => id,
        Err(kind) => return fault(kind),
    };
    match population().get(&national_id) {
        Some(citizen) => xml(StatusCode::OK, codec::build_response(&citizen)),
        None => fault(FaultKind::NotFound),
    }
}

/// SOAP 1.1 asks for the header; its value may be quoted or not.
fn soap_action_is_get_citizen(headers: &HeaderMap) -> bool {
    headers.get("soapaction").and_then(|value| value.to_str().ok()).map(|value| value.trim().trim_matches('"'))
        == Some(codec::SOAP_ACTION)
}

/// Faults go with HTTP 500, as SOAP 1.1 §6.2 says.
fn fault(kind: FaultKind) -> Response<Body> {
    xml(StatusCode::INTERNAL_SERVER_ERROR, codec::build_fault(kind))
}
