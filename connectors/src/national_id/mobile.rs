//! The GetRegisteredMobile operation on the wire (SOAP 1.1, documented in
//! `schemas/upstream/national_id_mobile.xsd`): the mobile number registered
//! to a national ID, on the same endpoint as `GetCitizen`. Both sides: the
//! connector builds requests and reads answers; the sandbox reads requests
//! and builds answers.
//!
//! Answer: `nid:GetRegisteredMobileResponse/nid:RegisteredMobile` with
//! `NationalId` and, when a number is registered, `MobileNumber` (E.164,
//! `+201` and nine digits); an unknown ID is the `NOT_FOUND` fault of
//! `GetCitizen`.

use reqwest::StatusCode;

use super::codec::{FaultKind, NAMESPACE, SCHEMA as CITIZEN_SCHEMA};
use crate::soap::model::{Content, Particle};
use crate::soap::{self, Element, RegistrySchema, SoapBody};
use crate::{Lookup, UpstreamError};

/// The operation's SOAP action URI.
pub const SOAP_ACTION: &str = "urn:bawaba:sandbox:national-id#GetRegisteredMobile";
/// The `SOAPAction` header value: the URI in double quotes (SOAP 1.1 §6.1.1).
pub const SOAP_ACTION_HEADER: &str = "\"urn:bawaba:sandbox:national-id#GetRegisteredMobile\"";

const PREFIX: &str = "nid";
const NAMESPACES: &[(&str, &str)] = &[(PREFIX, NAMESPACE)];

const fn text(name: &'static str) -> Particle {
    Particle::one(NAMESPACE, name, Content::Text)
}

/// `national_id_mobile.xsd` as content models; faults are `GetCitizen`'s.
pub const SCHEMA: RegistrySchema = RegistrySchema {
    request: Particle::one(
        NAMESPACE,
        "GetRegisteredMobileRequest",
        Content::Sequence { children: &[text("NationalId")], open: false },
    ),
    answer: Particle::one(
        NAMESPACE,
        "GetRegisteredMobileResponse",
        Content::Sequence {
            children: &[Particle::one(
                NAMESPACE,
                "RegisteredMobile",
                Content::Sequence {
                    children: &[text("NationalId"), Particle::optional(NAMESPACE, "MobileNumber", Content::Text)],
                    // xs:any namespace="##other": room for additions.
                    open: true,
                },
            )],
            open: false,
        },
    ),
    fault_detail: CITIZEN_SCHEMA.fault_detail,
    fault_codes: CITIZEN_SCHEMA.fault_codes,
    not_found_code: CITIZEN_SCHEMA.not_found_code,
    namespace: NAMESPACE,
};

/// What the registry holds about an ID's mobile. The number is personal data:
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredMobile {
    /// 14 ASCII digits: the ID asked about.
    pub national_id: String,
    /// E.164 `+201XXXXXXXXX`; `None` when no number is registered.
    pub mobile: Option<String>,
}

impl std::fmt::Debug for RegisteredMobile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredMobile")
            .field("national_id", &"(hidden)")
            .field("mobile", &self.mobile.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// Builds the request envelope for one national ID.
pub fn build_request(national_id: &str) -> String {
    soap::envelope(NAMESPACES, |w| {
        w.start("nid:GetRegisteredMobileRequest", &[])
            .leaf("nid:NationalId", national_id)
            .end("nid:GetRegisteredMobileRequest");
    })
}

/// Reads a request (sandbox side): exactly 14 ASCII digits, else `InvalidRequest`.
pub fn parse_request(body: &[u8]) -> Result<String, FaultKind> {
    let Ok(SoapBody::Payload(request)) = soap::parse_envelope(body, &SCHEMA.request, &SCHEMA) else {
        return Err(FaultKind::InvalidRequest);
    };
    match request.child_text(NAMESPACE, "NationalId") {
        Some(id) if is_national_id(id) => Ok(id.to_owned()),
        _ => Err(FaultKind::InvalidRequest),
    }
}

/// Builds the answer (sandbox side).
pub fn build_response(answer: &RegisteredMobile) -> String {
    soap::envelope(NAMESPACES, |w| {
        w.start("nid:GetRegisteredMobileResponse", &[])
            .start("nid:RegisteredMobile", &[])
            .leaf("nid:NationalId", &answer.national_id);
        if let Some(mobile) = &answer.mobile {
            w.leaf("nid:MobileNumber", mobile);
        }
        w.end("nid:RegisteredMobile").end("nid:GetRegisteredMobileResponse");
    })
}

/// Reads the registry's answer (connector side), classified as
/// [`soap::read_registry_answer`] says; a 2xx must carry a well-formed
/// `RegisteredMobile`.
pub fn parse_response(status: StatusCode, body: &[u8]) -> Result<Lookup<RegisteredMobile>, UpstreamError> {
    soap::read_registry_answer(status, body, &SCHEMA, read_answer)
}

fn is_national_id(id: &str) -> bool {
    id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `+201` followed by nine digits, the second of them 0, 1, 2 or 5 (DOMAIN.md).
pub fn is_e164_mobile(number: &str) -> bool {
    let Some(rest) = number.strip_prefix("+201") else {
        return false;
    };
    rest.len() == 9
        && rest.bytes().all(|b| b.is_ascii_digit())
        && matches!(rest.as_bytes()[0], b'0' | b'1' | b'2' | b'5')
}

fn read_answer(payload: &Element) -> Result<RegisteredMobile, UpstreamError> {
    // SCHEMA has checked the structure: one of each element, in order.
    let answer = payload
        .child(NAMESPACE, "RegisteredMobile")
        .ok_or_else(|| UpstreamError::Malformed("answer has no RegisteredMobile".into()))?;
    let national_id = answer
        .child_text(NAMESPACE, "NationalId")
        .ok_or_else(|| UpstreamError::Malformed("answer lacks NationalId".into()))?;
    if !is_national_id(national_id) {
        return Err(UpstreamError::Malformed("answer has an invalid NationalId".into()));
    }
    let mobile = match answer.child_text(NAMESPACE, "MobileNumber") {
        None => None,
        Some(number) if is_e164_mobile(number) => Some(number.to_owned()),
        Some(_) => return Err(UpstreamError::Malformed("answer has an invalid MobileNumber".into())),
    };
    Ok(RegisteredMobile { national_id: national_id.to_owned(), mobile })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(mobile: Option<&str>) -> RegisteredMobile {
        RegisteredMobile { national_id: "29001011300036".into(), mobile: mobile.map(str::to_owned) }
    }

    #[test]
    fn a_request_reads_back_and_refuses_what_is_not_fourteen_digits() {
        let xml = build_request("29001011300036");
        assert!(xml.contains("<nid:GetRegisteredMobileRequest><nid:NationalId>29001011300036</nid:NationalId>"));
        assert_eq!(parse_request(xml.as_bytes()), Ok("29001011300036".into()));
        for id in ["2900101130003", "2900101130003X", "</nid:NationalId>"] {
            assert_eq!(parse_request(build_request(id).as_bytes()), Err(FaultKind::InvalidRequest));
        }
        // A GetCitizen request is not this operation's request.
        let other = super::super::codec::build_request("29001011300036");
        assert_eq!(parse_request(other.as_bytes()), Err(FaultKind::InvalidRequest));
    }

    #[test]
    fn answers_with_and_without_a_number_read_back() {
        for original in [answer(Some("+201001234567")), answer(None)] {
            let xml = build_response(&original);
            assert_eq!(parse_response(StatusCode::OK, xml.as_bytes()), Ok(Lookup::Found(original)));
        }
    }

    #[test]
    fn a_repeated_element_is_refused() {
        let xml = build_response(&answer(Some("+201001234567")));
        let twice = xml.replace(
            "<nid:MobileNumber>+201001234567</nid:MobileNumber>",
            "<nid:MobileNumber>+201001234567</nid:MobileNumber><nid:MobileNumber>+201112345678</nid:MobileNumber>",
        );
        assert!(matches!(parse_response(StatusCode::OK, twice.as_bytes()), Err(UpstreamError::Malformed(_))));
        let two_ids = xml.replace(
            "<nid:NationalId>29001011300036</nid:NationalId>",
            "<nid:NationalId>29001011300036</nid:NationalId><nid:NationalId>28507150100022</nid:NationalId>",
        );
        assert!(matches!(parse_response(StatusCode::OK, two_ids.as_bytes()), Err(UpstreamError::Malformed(_))));
        let two_records = xml.replace(
            "</nid:RegisteredMobile>",
            "</nid:RegisteredMobile><nid:RegisteredMobile><nid:NationalId>29001011300036</nid:NationalId></nid:RegisteredMobile>",
        );
        assert!(matches!(parse_response(StatusCode::OK, two_records.as_bytes()), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn a_number_that_is_not_an_egyptian_mobile_in_e164_is_malformed_and_not_quoted() {
        let xml = build_response(&answer(Some("+201001234567")));
        for bad in ["01001234567", "+20100123456", "+201301234567", "+2010012345678", "+20 1001234567", ""] {
            let changed = xml.replace("+201001234567", bad);
            let err = parse_response(StatusCode::OK, changed.as_bytes()).unwrap_err();
            assert!(matches!(err, UpstreamError::Malformed(_)), "{bad:?}");
            assert!(!err.to_string().contains("100123"), "{err}");
        }
    }

    #[test]
    fn a_citizen_answer_is_not_a_mobile_answer() {
        let citizen = super::super::codec::build_response(&super::super::CitizenRecord {
            national_id: "29001011300036".into(),
            full_name: "محمد أحمد علي حسن".into(),
            birth_date: time::macros::date!(1990 - 01 - 01),
            gender: super::super::Sex::Male,
            mother_name: "فاطمة حسن".into(),
            alive: true,
            card_status: super::super::CardStatus::Valid,
        });
        assert!(matches!(parse_response(StatusCode::OK, citizen.as_bytes()), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn not_found_and_server_faults_are_classified_as_for_get_citizen() {
        let not_found = super::super::codec::build_fault(FaultKind::NotFound);
        assert_eq!(parse_response(StatusCode::INTERNAL_SERVER_ERROR, not_found.as_bytes()), Ok(Lookup::NotFound));
        let internal = super::super::codec::build_fault(FaultKind::Internal);
        assert!(matches!(
            parse_response(StatusCode::INTERNAL_SERVER_ERROR, internal.as_bytes()),
            Err(UpstreamError::Unavailable(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_number_or_the_id() {
        let shown = format!("{:?}", answer(Some("+201001234567")));
        assert!(!shown.contains("1001234567") && !shown.contains("29001011300036"), "{shown}");
    }
}
