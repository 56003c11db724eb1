//! The GetCitizen operation on the wire (SOAP 1.1, documented in
//! `schemas/upstream/national_id.xsd`), both sides: the connector builds
//! requests and reads answers; the sandbox reads requests and builds answers.
//!
//! Request:
//! ```xml
//! <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
//!                xmlns:nid="urn:bawaba:sandbox:national-id">
//!   <soap:Body>
//!     <nid:GetCitizenRequest><nid:NationalId>29001011300036</nid:NationalId></nid:GetCitizenRequest>
//!   </soap:Body>
//! </soap:Envelope>
//! ```
//! Answer: `nid:GetCitizenResponse/nid:Citizen` with `NationalId`, `FullName`,
//! `BirthDate`, `Gender`, `MotherName`, `Alive`, `CardStatus`; or a
//! `soap:Fault` whose `detail/nid:RegistryFault/nid:Code` says why
//! (`NOT_FOUND` for an unknown ID, sent as a `soap:Client` fault with HTTP 500).

use reqwest::StatusCode;

use super::record::{CardStatus, CitizenRecord, Sex};
use crate::soap::model::{Content, Particle};
use crate::soap::{self, Element, FaultCode, RegistrySchema, SoapBody};
use crate::{Lookup, UpstreamError};

/// The registry's XML namespace.
pub const NAMESPACE: &str = "urn:bawaba:sandbox:national-id";
/// The path of the SOAP endpoint under the registry's base URL.
pub const PATH: &str = "/national-id/soap";
/// The operation's SOAP action URI.
pub const SOAP_ACTION: &str = "urn:bawaba:sandbox:national-id#GetCitizen";
/// The `SOAPAction` header value: the URI in double quotes (SOAP 1.1 §6.1.1).
pub const SOAP_ACTION_HEADER: &str = "\"urn:bawaba:sandbox:national-id#GetCitizen\"";
/// The content type of requests and answers.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

const PREFIX: &str = "nid";

const fn text(name: &'static str) -> Particle {
    Particle::one(NAMESPACE, name, Content::Text)
}

/// `national_id.xsd` as content models: what the SOAP reader accepts.
pub const SCHEMA: RegistrySchema = RegistrySchema {
    request: Particle::one(
        NAMESPACE,
        "GetCitizenRequest",
        Content::Sequence { children: &[text("NationalId")], open: false },
    ),
    answer: Particle::one(
        NAMESPACE,
        "GetCitizenResponse",
        Content::Sequence {
            children: &[Particle::one(
                NAMESPACE,
                "Citizen",
                Content::Sequence {
                    children: &[
                        text("NationalId"),
                        text("FullName"),
                        text("BirthDate"),
                        text("Gender"),
                        text("MotherName"),
                        text("Alive"),
                        text("CardStatus"),
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
    fault_codes: &["NOT_FOUND", "INVALID_REQUEST", "UNSUPPORTED_OPERATION", "INTERNAL_ERROR"],
    not_found_code: "NOT_FOUND",
    namespace: NAMESPACE,
};
const NAMESPACES: &[(&str, &str)] = &[(PREFIX, NAMESPACE)];

/// The reasons the registry gives in a fault's `nid:RegistryFault/nid:Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `NOT_FOUND` (client fault): no citizen has this national ID.
    NotFound,
    /// `INVALID_REQUEST` (client fault): the request is not a well-formed GetCitizen.
    InvalidRequest,
    /// `UNSUPPORTED_OPERATION` (client fault): missing or unknown `SOAPAction`.
    UnsupportedOperation,
    /// `INTERNAL_ERROR` (server fault): the registry failed.
    Internal,
}

impl FaultKind {
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::NotFound => "NOT_FOUND",
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
            FaultKind::NotFound => "No citizen is registered under this national ID",
            FaultKind::InvalidRequest => "The request is not a valid GetCitizen request",
            FaultKind::UnsupportedOperation => "Unknown or missing SOAPAction",
            FaultKind::Internal => "The registry could not process the request",
        }
    }
}

/// Builds the GetCitizen request envelope for one national ID.
pub fn build_request(national_id: &str) -> String {
    soap::envelope(NAMESPACES, |w| {
        w.start("nid:GetCitizenRequest", &[]).leaf("nid:NationalId", national_id).end("nid:GetCitizenRequest");
    })
}

/// Reads a GetCitizen request (sandbox side) and returns the national ID it
/// asks for: exactly 14 ASCII digits, else `InvalidRequest`.
pub fn parse_request(body: &[u8]) -> Result<String, FaultKind> {
    let Ok(SoapBody::Payload(request)) = soap::parse_envelope(body, &SCHEMA.request, &SCHEMA) else {
        return Err(FaultKind::InvalidRequest);
    };
    match request.child_text(NAMESPACE, "NationalId") {
        Some(id) if id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()) => Ok(id.to_owned()),
        _ => Err(FaultKind::InvalidRequest),
    }
}

/// Builds the answer carrying one citizen (sandbox side).
pub fn build_response(record: &CitizenRecord) -> String {
    let birth_date = crate::format_date(record.birth_date);
    soap::envelope(NAMESPACES, |w| {
        w.start("nid:GetCitizenResponse", &[])
            .start("nid:Citizen", &[])
            .leaf("nid:NationalId", &record.national_id)
            .leaf("nid:FullName", &record.full_name)
            .leaf("nid:BirthDate", &birth_date)
            .leaf("nid:Gender", record.gender.as_str())
            .leaf("nid:MotherName", &record.mother_name)
            .leaf("nid:Alive", if record.alive { "true" } else { "false" })
            .leaf("nid:CardStatus", record.card_status.as_str())
            .end("nid:Citizen")
            .end("nid:GetCitizenResponse");
    })
}

/// Builds a fault envelope (sandbox side). SOAP 1.1 sends it with HTTP 500.
pub fn build_fault(kind: FaultKind) -> String {
    soap::fault_envelope(NAMESPACES, kind.fault_code(), kind.faultstring(), |w| {
        soap::write_registry_fault(w, PREFIX, kind.code());
    })
}

/// Reads the registry's answer (connector side) and classifies it, as
/// [`soap::read_registry_answer`] says: a client fault `NOT_FOUND` is
/// [`Lookup::NotFound`]; other client faults are `Rejected`; server faults
/// are `Unavailable` (or `Malformed` when they come with a 2xx, which SOAP
/// forbids). Without a fault, a non-2xx status is classified by the status,
/// and a 2xx must carry a complete citizen record.
pub fn parse_response(status: StatusCode, body: &[u8]) -> Result<Lookup<CitizenRecord>, UpstreamError> {
    soap::read_registry_answer(status, body, &SCHEMA, read_citizen)
}

fn malformed(what: &str) -> UpstreamError {
    UpstreamError::Malformed(what.to_owned())
}

fn read_citizen(payload: &Element) -> Result<CitizenRecord, UpstreamError> {
    // SCHEMA has checked the structure: one of each element, in order.
    let citizen = payload.child(NAMESPACE, "Citizen").ok_or_else(|| malformed("answer has no Citizen"))?;
    let field = |name: &'static str| {
        citizen.child_text(NAMESPACE, name).ok_or_else(|| UpstreamError::Malformed(format!("citizen lacks {name}")))
    };
    let invalid = |name: &'static str| UpstreamError::Malformed(format!("citizen has an invalid {name}"));

    let national_id = field("NationalId")?;
    if national_id.len() != 14 || !national_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("NationalId"));
    }
    let full_name = field("FullName")?;
    if full_name.is_empty() {
        return Err(invalid("FullName"));
    }
    let birth_date = crate::parse_date(field("BirthDate")?).ok_or_else(|| invalid("BirthDate"))?;
    let gender = Sex::from_wire(field("Gender")?).ok_or_else(|| invalid("Gender"))?;
    let mother_name = field("MotherName")?;
    let alive = soap::parse_boolean(field("Alive")?).ok_or_else(|| invalid("Alive"))?;
    let card_status = CardStatus::from_wire(field("CardStatus")?).ok_or_else(|| invalid("CardStatus"))?;
    Ok(CitizenRecord {
        national_id: national_id.to_owned(),
        full_name: full_name.to_owned(),
        birth_date,
        gender,
        mother_name: mother_name.to_owned(),
        alive,
        card_status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn record() -> CitizenRecord {
        CitizenRecord {
            national_id: "29001011300036".into(),
            full_name: "محمد أحمد علي حسن".into(),
            birth_date: date!(1990 - 01 - 01),
            gender: Sex::Male,
            mother_name: "فاطمة حسن".into(),
            alive: true,
            card_status: CardStatus::Valid,
        }
    }

    const FOREIGN_PREFIXES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Header/>
  <SOAP-ENV:Body>
    <GetCitizenResponse xmlns="urn:bawaba:sandbox:national-id">
      <Citizen>
        <NationalId>28507150100022</NationalId>
        <FullName>فاطمة الزهراء محمود عبد الله</FullName>
        <BirthDate>1985-07-15</BirthDate>
        <Gender>female</Gender>
        <MotherName>زينب إبراهيم</MotherName>
        <Alive>1</Alive>
        <CardStatus>reported_lost</CardStatus>
        <FutureField xmlns="urn:example:future">ignored</FutureField>
      </Citizen>
    </GetCitizenResponse>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

    const NOT_FOUND_FAULT: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <soap:Fault>
      <faultcode>soap:Client</faultcode>
      <faultstring>citizen 29001011399997 unknown</faultstring>
      <detail><r:RegistryFault xmlns:r="urn:bawaba:sandbox:national-id"><r:Code>NOT_FOUND</r:Code></r:RegistryFault></detail>
    </soap:Fault>
  </soap:Body>
</soap:Envelope>"#;

    fn fault_with(faultcode: &str, code: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>
            <faultcode>{faultcode}</faultcode><faultstring>محمد أحمد 29001011300036</faultstring>
            <detail><nid:RegistryFault xmlns:nid="urn:bawaba:sandbox:national-id"><nid:Code>{code}</nid:Code></nid:RegistryFault></detail>
            </soap:Fault></soap:Body></soap:Envelope>"#
        )
    }

    #[test]
    fn the_request_envelope_carries_the_id_in_the_registry_namespace() {
        let xml = build_request("29001011300036");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(xml.contains(r#"xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#));
        assert!(xml.contains(r#"xmlns:nid="urn:bawaba:sandbox:national-id""#));
        assert!(xml.contains("<nid:NationalId>29001011300036</nid:NationalId>"));
        assert_eq!(parse_request(xml.as_bytes()), Ok("29001011300036".into()));
    }

    #[test]
    fn a_request_without_fourteen_digits_is_invalid() {
        for id in ["2900101130003", "2900101130003X", "290010113000366", ""] {
            let xml = build_request(id);
            assert_eq!(parse_request(xml.as_bytes()), Err(FaultKind::InvalidRequest));
        }
        assert_eq!(parse_request(b"<nope/>"), Err(FaultKind::InvalidRequest));
    }

    #[test]
    fn a_request_with_markup_in_the_id_is_escaped_not_injected() {
        let xml = build_request("</nid:NationalId><x>&");
        assert!(xml.contains("&lt;/nid:NationalId&gt;&lt;x&gt;&amp;"));
        assert_eq!(parse_request(xml.as_bytes()), Err(FaultKind::InvalidRequest));
    }

    #[test]
    fn a_built_response_reads_back_as_the_same_record() {
        let original = record();
        let xml = build_response(&original);
        assert_eq!(parse_response(StatusCode::OK, xml.as_bytes()), Ok(Lookup::Found(original)));
    }

    #[test]
    fn names_with_xml_special_characters_are_escaped_and_read_back_exactly() {
        let mut original = record();
        original.full_name = "O'Brien <Jr> & \"Sons\" عبد الله".into();
        original.mother_name = "a]]>b &amp; c".into();
        let xml = build_response(&original);
        assert!(xml.contains("O&apos;Brien &lt;Jr&gt; &amp; &quot;Sons&quot; عبد الله"));
        assert!(xml.contains("a]]&gt;b &amp;amp; c"));
        assert_eq!(parse_response(StatusCode::OK, xml.as_bytes()), Ok(Lookup::Found(original)));
    }

    #[test]
    fn an_answer_with_other_prefixes_and_a_default_namespace_is_understood() {
        let Ok(Lookup::Found(citizen)) = parse_response(StatusCode::OK, FOREIGN_PREFIXES.as_bytes()) else {
            panic!("expected a record");
        };
        assert_eq!(citizen.national_id, "28507150100022");
        assert_eq!(citizen.full_name, "فاطمة الزهراء محمود عبد الله");
        assert_eq!(citizen.birth_date, date!(1985 - 07 - 15));
        assert_eq!(citizen.gender, Sex::Female);
        assert_eq!(citizen.mother_name, "زينب إبراهيم");
        assert!(citizen.alive);
        assert_eq!(citizen.card_status, CardStatus::ReportedLost);
    }

    #[test]
    fn an_answer_in_the_wrong_namespace_is_malformed() {
        let xml = FOREIGN_PREFIXES.replace("urn:bawaba:sandbox:national-id", "urn:other");
        assert!(matches!(parse_response(StatusCode::OK, xml.as_bytes()), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn a_not_found_client_fault_is_a_not_found_lookup() {
        for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::OK] {
            assert_eq!(parse_response(status, NOT_FOUND_FAULT.as_bytes()), Ok(Lookup::NotFound));
        }
        let built = build_fault(FaultKind::NotFound);
        assert_eq!(parse_response(StatusCode::INTERNAL_SERVER_ERROR, built.as_bytes()), Ok(Lookup::NotFound));
    }

    #[test]
    fn another_client_fault_is_a_rejection_that_names_only_the_code() {
        let xml = fault_with("soap:Client", "INVALID_REQUEST");
        let err = parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()).unwrap_err();
        assert_eq!(err, UpstreamError::Rejected("client fault INVALID_REQUEST".into()));
        assert!(!err.to_string().contains("2900"));
        assert!(!err.to_string().contains("محمد"));
    }

    #[test]
    fn a_free_text_fault_code_is_not_repeated_in_the_error() {
        let xml = fault_with("soap:Client", "citizen 29001011300036 blocked");
        let err = parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()).unwrap_err();
        assert!(matches!(err, UpstreamError::Rejected(_)));
        assert!(!err.to_string().contains("2900"));
    }

    #[test]
    fn a_server_fault_with_http_500_is_unavailable() {
        let xml = build_fault(FaultKind::Internal);
        assert_eq!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()),
            Err(UpstreamError::Unavailable("server fault INTERNAL_ERROR".into()))
        );
    }

    #[test]
    fn a_server_fault_inside_a_200_is_malformed() {
        let xml = fault_with("soap:Server", "INTERNAL_ERROR");
        assert!(matches!(parse_response(StatusCode::OK, xml.as_bytes()), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn version_mismatch_is_a_rejection_and_an_unknown_faultcode_is_malformed() {
        let xml = fault_with("soap:VersionMismatch", "X");
        assert!(matches!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()),
            Err(UpstreamError::Rejected(_))
        ));
        let xml = fault_with("Teapot", "X");
        assert!(matches!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, xml.as_bytes()),
            Err(UpstreamError::Malformed(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_xml_is_malformed_on_200_and_classified_by_status_otherwise() {
        let junk = b"<html><body>Service Unavailable";
        assert!(matches!(parse_response(StatusCode::OK, junk), Err(UpstreamError::Malformed(_))));
        assert!(matches!(parse_response(StatusCode::SERVICE_UNAVAILABLE, junk), Err(UpstreamError::Unavailable(_))));
        assert!(matches!(parse_response(StatusCode::TOO_MANY_REQUESTS, b""), Err(UpstreamError::Unavailable(_))));
        assert!(matches!(parse_response(StatusCode::NOT_FOUND, b"<html/>"), Err(UpstreamError::Rejected(_))));
    }

    #[test]
    fn a_truncated_answer_is_malformed() {
        let xml = build_response(&record());
        let truncated = &xml.as_bytes()[..xml.len() - 30];
        assert!(matches!(parse_response(StatusCode::OK, truncated), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn a_record_with_invalid_fields_is_malformed_without_quoting_them() {
        let good = build_response(&record());
        for (from, to) in [
            ("1990-01-01", "1990-02-30"),
            ("1990-01-01", "01/01/1990"),
            (">male<", ">m<"),
            (">valid<", ">lost<"),
            (">true<", ">yes<"),
            ("29001011300036", "2900101130003"),
            ("<nid:MotherName>فاطمة حسن</nid:MotherName>", ""),
        ] {
            let xml = good.replace(from, to);
            let err = parse_response(StatusCode::OK, xml.as_bytes()).unwrap_err();
            assert!(matches!(err, UpstreamError::Malformed(_)), "{from} -> {to}");
            let message = err.to_string();
            assert!(!message.contains("1990") && !message.contains("محمد"), "{message}");
        }
    }
}
