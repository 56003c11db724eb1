//! The GetProperty operation on the wire (SOAP 1.1, documented in
//! `schemas/upstream/real_estate.xsd`), both sides: the connector builds
//! requests and reads answers; the sandbox reads requests and builds answers.
//!
//! Request:
//! ```xml
//! <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
//!                xmlns:re="urn:bawaba:sandbox:real-estate">
//!   <soap:Body>
//!     <re:GetPropertyRequest><re:PropertyId>SHR-ZAG-000123</re:PropertyId></re:GetPropertyRequest>
//!   </soap:Body>
//! </soap:Envelope>
//! ```
//! Answer: `re:GetPropertyResponse/re:Property` with `PropertyId`,
//! `OwnerNationalId`, `RegistrationStatus`, `Encumbered`; or a `soap:Fault`
//! whose `detail/re:RegistryFault/re:Code` says why (`PROPERTY_NOT_FOUND`
//! for an unknown property, sent as a `soap:Client` fault with HTTP 500).

use reqwest::StatusCode;

use super::record::{PropertyRecord, RegistrationStatus};
use crate::soap::model::{Content, Particle};
use crate::soap::{self, Element, FaultCode, RegistrySchema, SoapBody};
use crate::{Lookup, UpstreamError};

/// The registry's XML namespace.
pub const NAMESPACE: &str = "urn:bawaba:sandbox:real-estate";
/// The path of the SOAP endpoint under the registry's base URL.
pub const PATH: &str = "/real-estate/soap";
/// The operation's SOAP action URI.
pub const SOAP_ACTION: &str = "urn:bawaba:sandbox:real-estate#GetProperty";
/// The `SOAPAction` header value: the URI in double quotes (SOAP 1.1 §6.1.1).
pub const SOAP_ACTION_HEADER: &str = "\"urn:bawaba:sandbox:real-estate#GetProperty\"";
/// The content type of requests and answers.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const PREFIX: &str = "re";

const fn text(name: &'static str) -> Particle {
    Particle::one(NAMESPACE, name, Content::Text)
}

/// `real_estate.xsd` as content models: what the SOAP reader accepts.
pub const SCHEMA: RegistrySchema = RegistrySchema {
    request: Particle::one(
        NAMESPACE,
        "GetPropertyRequest",
        Content::Sequence { children: &[text("PropertyId")], open: false },
    ),
    answer: Particle::one(
        NAMESPACE,
        "GetPropertyResponse",
        Content::Sequence {
            children: &[Particle::one(
                NAMESPACE,
                "Property",
                Content::Sequence {
                    children: &[
                        text("PropertyId"),
                        text("OwnerNationalId"),
                        text("RegistrationStatus"),
                        text("Encumbered"),
                    ],
                    // xs:any namespace="##other": room for additions.
                    open: true,
                },
            )],
            open: false,
        },
    ),
    fault_detail: Content::Sequence {
        children: &[Particle::optional(
            NAMESPACE,
            "RegistryFault",
            Content::Sequence {
                children: &[text("Code"), Particle::optional(NAMESPACE, "Message", Content::Text)],
                open: false,
            },
        )],
        open: false,
    },
    fault_codes: &["PROPERTY_NOT_FOUND", "INVALID_REQUEST", "UNSUPPORTED_OPERATION", "INTERNAL_ERROR"],
    not_found_code: "PROPERTY_NOT_FOUND",
    namespace: NAMESPACE,
};
const NAMESPACES: &[(&str, &str)] = &[(PREFIX, NAMESPACE)];

/// The reasons the registry gives in a fault's `re:RegistryFault/re:Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `PROPERTY_NOT_FOUND` (client fault): no property has this ID.
    NotFound,
    /// `INVALID_REQUEST` (client fault): not a well-formed GetProperty request.
    InvalidRequest,
    /// `UNSUPPORTED_OPERATION` (client fault): missing or unknown `SOAPAction`.
    UnsupportedOperation,
    /// `INTERNAL_ERROR` (server fault): the registry failed.
    Internal,
}

impl FaultKind {
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::NotFound => "PROPERTY_NOT_FOUND",
            FaultKind::InvalidRequest => "INVALID_REQUEST",
            FaultKind::UnsupportedOperation => "UNSUPPORTED_OPERATION",
            FaultKind::Internal => "INTERNAL_ERROR",
        }
    }

    fn fault_code(self) -> FaultCode {
        match self {
            FaultKind::Internal => FaultCode::Server,
            _ => FaultCode::Client,
        }
    }

    fn faultstring(self) -> &'static str {
        match self {
            FaultKind::NotFound => "No property is registered under this ID",
            FaultKind::InvalidRequest => "The request is not a valid GetProperty request",
            FaultKind::UnsupportedOperation => "Unknown or missing SOAPAction",
            FaultKind::Internal => "The registry could not process the request",
        }
    }
}

/// Whether the registry accepts a property ID's shape: 1–40 characters from
/// `A–Z 0–9 -`. A well-shaped ID that is not registered is `PROPERTY_NOT_FOUND`.
pub fn property_id_is_well_formed(id: &str) -> bool {
    (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// Builds the GetProperty request envelope for one property ID.
pub fn build_request(property_id: &str) -> String {
    soap::envelope(NAMESPACES, |w| {
        w.start("re:GetPropertyRequest", &[]).leaf("re:PropertyId", property_id).end("re:GetPropertyRequest");
    })
}

/// Reads a GetProperty request (sandbox side) and returns the property ID it
/// asks for, if [`property_id_is_well_formed`], else `InvalidRequest`.
pub fn parse_request(body: &[u8]) -> Result<String, FaultKind> {
    let Ok(SoapBody::Payload(request)) = soap::parse_envelope(body, &SCHEMA.request, &SCHEMA) else {
        return Err(FaultKind::InvalidRequest);
    };
    match request.child_text(NAMESPACE, "PropertyId") {
        Some(id) if property_id_is_well_formed(id) => Ok(id.to_owned()),
        _ => Err(FaultKind::InvalidRequest),
    }
}

/// Builds the answer carrying one property (sandbox side).
pub fn build_response(record: &PropertyRecord) -> String {
    soap::envelope(NAMESPACES, |w| {
        w.start("re:GetPropertyResponse", &[])
            .start("re:Property", &[])
            .leaf("re:PropertyId", &record.property_id)
            .leaf("re:OwnerNationalId", &record.owner_national_id)
            .leaf("re:RegistrationStatus", record.registration_status.as_str())
            .leaf("re:Encumbered", if record.encumbered { "true" } else { "false" })
            .end("re:Property")
            .end("re:GetPropertyResponse");
    })
}

/// Builds a fault envelope (sandbox side). SOAP 1.1 sends it with HTTP 500.
pub fn build_fault(kind: FaultKind) -> String {
    soap::fault_envelope(NAMESPACES, kind.fault_code(), kind.faultstring(), |w| {
        soap::write_registry_fault(w, PREFIX, kind.code());
    })
}

/// Reads the registry's answer (connector side) and classifies it, as
/// [`soap::read_registry_answer`] says: a client fault `PROPERTY_NOT_FOUND`
/// is [`Lookup::NotFound`]; other client faults are `Rejected`; server faults
/// are `Unavailable` (or `Malformed` inside a 2xx). Without a fault, a non-2xx
/// status is classified by the status, and a 2xx must carry a complete
/// property record.
pub fn parse_response(status: StatusCode, body: &[u8]) -> Result<Lookup<PropertyRecord>, UpstreamError> {
    soap::read_registry_answer(status, body, &SCHEMA, read_property)
}

fn read_property(payload: &Element) -> Result<PropertyRecord, UpstreamError> {
    // SCHEMA has checked the structure: one of each element, in order.
    let property = payload
        .child(NAMESPACE, "Property")
        .ok_or_else(|| UpstreamError::Malformed("answer has no Property".into()))?;
    let field = |name: &'static str| {
        property.child_text(NAMESPACE, name).ok_or_else(|| UpstreamError::Malformed(format!("property lacks {name}")))
    };
    let invalid = |name: &'static str| UpstreamError::Malformed(format!("property has an invalid {name}"));

    let property_id = field("PropertyId")?;
    if !property_id_is_well_formed(property_id) {
        return Err(invalid("PropertyId"));
    }
    let owner = field("OwnerNationalId")?;
    if owner.len() != 14 || !owner.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("OwnerNationalId"));
    }
    let registration_status =
        RegistrationStatus::from_wire(field("RegistrationStatus")?).ok_or_else(|| invalid("RegistrationStatus"))?;
    let encumbered = soap::parse_boolean(field("Encumbered")?).ok_or_else(|| invalid("Encumbered"))?;
    Ok(PropertyRecord {
        property_id: property_id.to_owned(),
        owner_national_id: owner.to_owned(),
        registration_status,
        encumbered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> PropertyRecord {
        PropertyRecord {
            property_id: "CAI-NSR-004567".into(),
            owner_national_id: "28507150100022".into(),
            registration_status: RegistrationStatus::Registered,
            encumbered: true,
        }
    }

    fn fault_with(faultcode: &str, code: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>
            <faultcode>{faultcode}</faultcode><faultstring>owner 28507150100022 محمد</faultstring>
            <detail><x:RegistryFault xmlns:x="urn:bawaba:sandbox:real-estate"><x:Code>{code}</x:Code></x:RegistryFault></detail>
            </soap:Fault></soap:Body></soap:Envelope>"#
        )
    }

    #[test]
    fn the_request_envelope_carries_the_id_in_the_registry_namespace() {
        let xml = build_request("SHR-ZAG-000123");
        assert!(xml.contains(r#"xmlns:re="urn:bawaba:sandbox:real-estate""#));
        assert!(xml.contains("<re:PropertyId>SHR-ZAG-000123</re:PropertyId>"));
        assert_eq!(parse_request(xml.as_bytes()), Ok("SHR-ZAG-000123".into()));
    }

    #[test]
    fn a_request_with_an_ill_formed_id_is_invalid() {
        for id in ["", "shr-zag-000123", "SHR ZAG 000123", "SHR/ZAG", "</re:PropertyId>", &"A".repeat(41)] {
            assert_eq!(parse_request(build_request(id).as_bytes()), Err(FaultKind::InvalidRequest), "{id}");
        }
        let national_id_request = crate::national_id::codec::build_request("29001011300036");
        assert_eq!(parse_request(national_id_request.as_bytes()), Err(FaultKind::InvalidRequest));
    }

    #[test]
    fn a_built_response_reads_back_as_the_same_record() {
        for encumbered in [true, false] {
            for registration_status in RegistrationStatus::ALL {
                let original = PropertyRecord { registration_status, encumbered, ..record() };
                let xml = build_response(&original);
                assert_eq!(parse_response(StatusCode::OK, xml.as_bytes()), Ok(Lookup::Found(original)));
            }
        }
    }

    #[test]
    fn an_answer_with_a_default_namespace_and_extra_elements_is_understood() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Header/><S:Body>
  <GetPropertyResponse xmlns="urn:bawaba:sandbox:real-estate"><Property>
    <PropertyId>GIZ-DOK-000777</PropertyId><OwnerNationalId>24003202100031</OwnerNationalId>
    <RegistrationStatus>pending</RegistrationStatus><Encumbered>0</Encumbered>
    <AreaSquareMetres xmlns="urn:other">120</AreaSquareMetres>
  </Property></GetPropertyResponse>
</S:Body></S:Envelope>"#;
        assert_eq!(
            parse_response(StatusCode::OK, xml.as_bytes()),
            Ok(Lookup::Found(PropertyRecord {
                property_id: "GIZ-DOK-000777".into(),
                owner_national_id: "24003202100031".into(),
                registration_status: RegistrationStatus::Pending,
                encumbered: false,
            }))
        );
    }

    #[test]
    fn a_no_such_property_client_fault_is_a_not_found_lookup() {
        let built = build_fault(FaultKind::NotFound);
        assert_eq!(parse_response(StatusCode::INTERNAL_SERVER_ERROR, built.as_bytes()), Ok(Lookup::NotFound));
        let foreign = fault_with("soap:Client", "PROPERTY_NOT_FOUND");
        assert_eq!(parse_response(StatusCode::OK, foreign.as_bytes()), Ok(Lookup::NotFound));
    }

    #[test]
    fn the_national_id_not_found_code_does_not_mean_no_such_property() {
        let xml = fault_with("soap:Client", "NOT_FOUND");
        assert_eq!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()),
            Err(UpstreamError::Rejected("client fault unrecognised".into()))
        );
    }

    #[test]
    fn other_client_faults_are_rejections_naming_only_the_code() {
        let err = parse_response(StatusCode::INTERNAL_SERVER_ERROR, build_fault(FaultKind::InvalidRequest).as_bytes())
            .unwrap_err();
        assert_eq!(err, UpstreamError::Rejected("client fault INVALID_REQUEST".into()));
        let err = parse_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            fault_with("soap:Client", "owner 28507150100022").as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(err, UpstreamError::Rejected(_)));
        assert!(!err.to_string().contains("2850"));
    }

    #[test]
    fn a_server_fault_is_unavailable_and_inside_a_200_malformed() {
        assert_eq!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, build_fault(FaultKind::Internal).as_bytes()),
            Err(UpstreamError::Unavailable("server fault INTERNAL_ERROR".into()))
        );
        let xml = fault_with("soap:Server", "INTERNAL_ERROR");
        assert!(matches!(parse_response(StatusCode::OK, xml.as_bytes()), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn a_body_that_is_not_xml_is_malformed_on_200_and_classified_by_status_otherwise() {
        assert!(matches!(parse_response(StatusCode::OK, b"{\"json\": 1}"), Err(UpstreamError::Malformed(_))));
        assert_eq!(
            parse_response(StatusCode::BAD_GATEWAY, b"<html/>"),
            Err(UpstreamError::Unavailable("HTTP 502".into()))
        );
        assert_eq!(parse_response(StatusCode::UNAUTHORIZED, b""), Err(UpstreamError::Rejected("HTTP 401".into())));
    }

    #[test]
    fn a_record_with_invalid_fields_is_malformed_without_quoting_them() {
        let good = build_response(&record());
        for (from, to) in [
            ("28507150100022", "2850715010002"),
            (">registered<", ">owned<"),
            (">true<", ">yes<"),
            ("CAI-NSR-004567", "cai-nsr-004567"),
            ("<re:Encumbered>true</re:Encumbered>", ""),
            ("re:GetPropertyResponse", "re:GetCitizenResponse"),
        ] {
            let xml = good.replace(from, to);
            let err = parse_response(StatusCode::OK, xml.as_bytes()).unwrap_err();
            assert!(matches!(err, UpstreamError::Malformed(_)), "{from} -> {to}");
            assert!(!err.to_string().contains("2850"), "{err}");
        }
    }
}
