//! Reading a SOAP 1.1 envelope the way `schemas/upstream/soap-envelope.xsd`
//! and the registry's XSD say, and classifying what it holds. One reader for
//! every SOAP registry: a registry supplies its [`RegistrySchema`], the
//! content models of its elements, and the reader refuses whatever they do
//! not allow (a repeated `Citizen` or `NationalId`, two `soap:Body`, a `Fault`
//! next to the answer, an element out of place) before any value is read.

use super::model::{Content, Particle};
use super::{ENVELOPE_NS, Element, XmlError, XmlWriter, parse_document};
use crate::error::UNRECOGNISED;
use crate::{Lookup, UpstreamError};

/// What one SOAP registry's XSD allows, as content models.
#[derive(Debug)]
pub struct RegistrySchema {
    /// What a request's `soap:Body` holds (read by the sandbox).
    pub request: Particle,
    /// What a successful answer's `soap:Body` holds.
    pub answer: Particle,
    /// What a fault's `detail` may hold (the registry's `RegistryFault`).
    pub fault_detail: Content,
    /// Every code `RegistryFault/Code` may carry: the only ones ever repeated
    /// in an error message or a log.
    pub fault_codes: &'static [&'static str],
    /// The code of a client fault that means "no such record".
    pub not_found_code: &'static str,
    /// The registry's namespace (`RegistryFault` is in it).
    pub namespace: &'static str,
}

/// `soap:Envelope`: an optional `soap:Header` (anything in it), one `soap:Body`.
/// The Body's one element is checked against the registry's model below.
const ENVELOPE: Particle = Particle::one(
    ENVELOPE_NS,
    "Envelope",
    Content::Sequence {
        children: &[
            Particle::optional(ENVELOPE_NS, "Header", Content::Any),
            Particle::one(ENVELOPE_NS, "Body", Content::Any),
        ],
        open: false,
    },
);

/// `soap:Fault` with its unqualified children; `detail` is checked against
/// the registry's [`RegistrySchema::fault_detail`].
const FAULT: Particle = Particle::one(
    ENVELOPE_NS,
    "Fault",
    Content::Sequence {
        children: &[
            Particle { namespace: None, name: "faultcode", optional: false, content: Content::Text },
            Particle { namespace: None, name: "faultstring", optional: false, content: Content::Text },
            Particle { namespace: None, name: "faultactor", optional: true, content: Content::Text },
            Particle { namespace: None, name: "detail", optional: true, content: Content::Any },
        ],
        open: false,
    },
);

/// The SOAP 1.1 fault codes (SOAP 1.1 §4.4.1), a dotted sub-code ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The request was wrong: do not send it again as it is.
    Client,
    /// The server failed to process a correct request.
    Server,
    VersionMismatch,
    MustUnderstand,
}

impl FaultCode {
    pub(super) fn qualified(self) -> &'static str {
        match self {
            FaultCode::Client => "soap:Client",
            FaultCode::Server => "soap:Server",
            FaultCode::VersionMismatch => "soap:VersionMismatch",
            FaultCode::MustUnderstand => "soap:MustUnderstand",
        }
    }

    fn from_local(local: &str) -> Option<Self> {
        let base = local.split('.').next().unwrap_or(local);
        match base {
            "Client" => Some(FaultCode::Client),
            "Server" => Some(FaultCode::Server),
            "VersionMismatch" => Some(FaultCode::VersionMismatch),
            "MustUnderstand" => Some(FaultCode::MustUnderstand),
            _ => None,
        }
    }
}

/// A SOAP fault as read from the wire. `faultstring` is deliberately not
/// kept: registries put free text (sometimes personal data) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `None` when the code is not one of SOAP 1.1's in the envelope namespace.
    pub code: Option<FaultCode>,
    /// The content of `<detail>`, if any.
    pub detail: Option<Element>,
}

/// What a SOAP body held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoapBody {
    /// The one element of `soap:Body`, as `payload` describes it.
    Payload(Element),
    Fault(Fault),
}

/// Parses a SOAP 1.1 envelope whose Body holds exactly one element: `payload`
/// (checked against its content model) or a `soap:Fault` (its detail checked
/// against the registry's). Anything else is refused.
pub fn parse_envelope(body: &[u8], payload: &Particle, schema: &RegistrySchema) -> Result<SoapBody, XmlError> {
    let root = parse_document(body)?;
    if !ENVELOPE.matches(&root, &root) {
        return Err(XmlError::new("root element is not a SOAP 1.1 Envelope"));
    }
    ENVELOPE.check(&root)?;
    let soap_body = root.child(ENVELOPE_NS, "Body").ok_or(XmlError::new("Envelope lacks Body"))?;
    if !soap_body.text.trim().is_empty() {
        return Err(XmlError::new("Body holds text where elements belong"));
    }
    let [only] = soap_body.children.as_slice() else {
        return Err(XmlError::new("Body must hold exactly one element"));
    };
    if FAULT.matches(only, soap_body) {
        FAULT.check(only)?;
        return read_fault(only, schema).map(SoapBody::Fault);
    }
    if !payload.matches(only, soap_body) {
        return Err(XmlError::owned(format!("Body holds neither {} nor a Fault", payload.name)));
    }
    payload.check(only)?;
    Ok(SoapBody::Payload(only.clone()))
}

fn read_fault(fault: &Element, schema: &RegistrySchema) -> Result<Fault, XmlError> {
    // SOAP 1.1 leaves faultcode, faultstring and detail unqualified; FAULT
    // also takes them qualified with the envelope namespace.
    let faultcode = fault.child_any_ns("faultcode").ok_or(XmlError::new("Fault lacks faultcode"))?;
    let code = match &faultcode.qname_value {
        Some((Some(ns), local)) if ns == ENVELOPE_NS => FaultCode::from_local(local),
        _ => None,
    };
    let detail = fault.child_any_ns("detail");
    if let Some(detail) = detail {
        let model = Particle { namespace: None, name: "detail", optional: true, content: schema.fault_detail };
        model.check(detail)?;
    }
    Ok(Fault { code, detail: detail.cloned() })
}

// ---------------------------------------------------------------------------
// Registry conventions
// ---------------------------------------------------------------------------

/// Writes a registry's fault detail, `<{prefix}:RegistryFault><{prefix}:Code>`,
/// the convention every SOAP registry of the sandbox family follows.
pub fn write_registry_fault(w: &mut XmlWriter, prefix: &str, code: &str) {
    let fault = format!("{prefix}:RegistryFault");
    w.start(&fault, &[]).leaf(&format!("{prefix}:Code"), code).end(&fault);
}

/// The `detail/RegistryFault/Code` of a fault, only if it is one of the
/// registry's codes: it goes into error messages and logs, so nothing else
/// the registry wrote there ever does.
pub fn registry_fault_code(fault: &Fault, schema: &RegistrySchema) -> Option<&'static str> {
    let ns = schema.namespace;
    let code = fault.detail.as_ref()?.child(ns, "RegistryFault")?.child_text(ns, "Code")?;
    schema.fault_codes.iter().find(|known| **known == code).copied()
}

/// Reads a registry's answer and classifies it, the same way for every SOAP
/// registry.
///
/// The body is read first, whatever the status: SOAP servers send faults with
/// HTTP 500, and a fault says more than the status. A client fault whose
/// registry code is the schema's `not_found_code` is [`Lookup::NotFound`];
/// other client faults (and `VersionMismatch`, `MustUnderstand`) are
/// `Rejected`; server faults are `Unavailable` (or `Malformed` when they come
/// with a 2xx, which SOAP forbids). Without a fault, a non-2xx status is
/// classified by the status, and a 2xx payload goes to `read_payload`. An
/// envelope the schema does not allow is `Malformed` on 2xx.
pub fn read_registry_answer<T>(
    status: reqwest::StatusCode,
    body: &[u8],
    schema: &RegistrySchema,
    read_payload: impl FnOnce(&Element) -> Result<T, UpstreamError>,
) -> Result<Lookup<T>, UpstreamError> {
    match parse_envelope(body, &schema.answer, schema) {
        Ok(SoapBody::Fault(fault)) => classify_fault(status, &fault, schema),
        Ok(SoapBody::Payload(payload)) if status.is_success() => read_payload(&payload).map(Lookup::Found),
        Err(err) if status.is_success() => Err(UpstreamError::Malformed(err.to_string())),
        Ok(SoapBody::Payload(_)) | Err(_) => Err(UpstreamError::from_status(status)),
    }
}

fn classify_fault<T>(
    status: reqwest::StatusCode,
    fault: &Fault,
    schema: &RegistrySchema,
) -> Result<Lookup<T>, UpstreamError> {
    let code = registry_fault_code(fault, schema);
    let shown = code.unwrap_or(UNRECOGNISED);
    match fault.code {
        Some(FaultCode::Client) if code == Some(schema.not_found_code) => Ok(Lookup::NotFound),
        Some(FaultCode::Client) => Err(UpstreamError::Rejected(format!("client fault {shown}"))),
        Some(FaultCode::VersionMismatch | FaultCode::MustUnderstand) => {
            Err(UpstreamError::Rejected("SOAP version or header not understood".into()))
        }
        Some(FaultCode::Server) if status.is_success() => {
            Err(UpstreamError::Malformed(format!("server fault {shown} in a success answer")))
        }
        Some(FaultCode::Server) => Err(UpstreamError::Unavailable(format!("server fault {shown}"))),
        None => Err(UpstreamError::Malformed("fault with an unknown faultcode".into())),
    }
}

/// An `xs:boolean` in either of its lexical forms (`true`/`false`, `1`/`0`).
pub fn parse_boolean(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "urn:test";
    const SCHEMA: RegistrySchema = RegistrySchema {
        request: Particle::one(NS, "Ask", Content::Text),
        answer: Particle::one(
            NS,
            "Answer",
            Content::Sequence { children: &[Particle::one(NS, "Value", Content::Text)], open: false },
        ),
        fault_detail: Content::Sequence {
            children: &[Particle::optional(
                NS,
                "RegistryFault",
                Content::Sequence {
                    children: &[
                        Particle::one(NS, "Code", Content::Text),
                        Particle::optional(NS, "Message", Content::Text),
                    ],
                    open: false,
                },
            )],
            open: false,
        },
        fault_codes: &["NOT_FOUND", "BROKEN"],
        not_found_code: "NOT_FOUND",
        namespace: NS,
    };

    fn envelope(body: &str) -> String {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="urn:test">{body}</soap:Envelope>"#
        )
    }

    const ANSWER: &str = "<t:Answer><t:Value>1</t:Value></t:Answer>";

    fn fault(code: &str) -> String {
        format!(
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring>\
             <detail><t:RegistryFault><t:Code>{code}</t:Code></t:RegistryFault></detail></soap:Fault>"
        )
    }

    fn parse(xml: &str) -> Result<SoapBody, XmlError> {
        parse_envelope(xml.as_bytes(), &SCHEMA.answer, &SCHEMA)
    }

    #[test]
    fn an_answer_with_or_without_a_header_is_read() {
        for xml in [
            envelope(&format!("<soap:Body>{ANSWER}</soap:Body>")),
            envelope(&format!("<soap:Header><x:Any xmlns:x=\"urn:x\"/></soap:Header><soap:Body>{ANSWER}</soap:Body>")),
        ] {
            assert!(matches!(parse(&xml), Ok(SoapBody::Payload(p)) if p.local_name == "Answer"), "{xml}");
        }
    }

    #[test]
    fn what_the_envelope_schema_does_not_allow_is_refused() {
        for (body, why) in [
            (
                format!("<soap:Body>{ANSWER}</soap:Body><soap:Body>{ANSWER}</soap:Body>"),
                "Envelope holds Body more than once or out of order",
            ),
            (format!("<soap:Body>{ANSWER}{}</soap:Body>", fault("BROKEN")), "Body must hold exactly one element"),
            (format!("<soap:Body>{}{ANSWER}</soap:Body>", fault("BROKEN")), "Body must hold exactly one element"),
            (format!("<soap:Body>{ANSWER}{ANSWER}</soap:Body>"), "Body must hold exactly one element"),
            ("<soap:Body/>".to_owned(), "Body must hold exactly one element"),
            (
                format!("<soap:Body>{ANSWER}</soap:Body><soap:Header/>"),
                "Envelope holds Header more than once or out of order",
            ),
            (
                format!("<soap:Header/><soap:Header/><soap:Body>{ANSWER}</soap:Body>"),
                "Envelope holds Header more than once or out of order",
            ),
            ("<soap:Body><t:Ask>1</t:Ask></soap:Body>".to_owned(), "Body holds neither Answer nor a Fault"),
            (
                "<soap:Body><t:Answer><t:Value>1</t:Value><t:Value>2</t:Value></t:Answer></soap:Body>".to_owned(),
                "Answer holds Value more than once or out of order",
            ),
        ] {
            let err = parse(&envelope(&body)).unwrap_err();
            assert_eq!(err.to_string(), why, "{body}");
        }
        assert!(parse(&format!("<Envelope><Body>{ANSWER}</Body></Envelope>")).is_err());
    }

    #[test]
    fn a_fault_with_repeated_or_unknown_parts_is_refused() {
        for body in [
            "<soap:Fault><faultcode>soap:Client</faultcode><faultcode>soap:Server</faultcode><faultstring>x</faultstring></soap:Fault>",
            "<soap:Fault><faultcode>soap:Client</faultcode></soap:Fault>",
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring><detail/><detail/></soap:Fault>",
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring><detail>\
             <t:RegistryFault><t:Code>BROKEN</t:Code><t:Code>NOT_FOUND</t:Code></t:RegistryFault></detail></soap:Fault>",
            "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring><detail>\
             <t:RegistryFault><t:Code>BROKEN</t:Code></t:RegistryFault><t:RegistryFault><t:Code>NOT_FOUND</t:Code></t:RegistryFault></detail></soap:Fault>",
        ] {
            assert!(parse(&envelope(&format!("<soap:Body>{body}</soap:Body>"))).is_err(), "{body}");
        }
    }

    #[test]
    fn a_prefix_bound_elsewhere_still_resolves_to_the_envelope_namespace() {
        let xml = r#"<E:Envelope xmlns:E="http://schemas.xmlsoap.org/soap/envelope/">
            <E:Body><E:Fault><faultcode>E:Server.Busy</faultcode><faultstring>x</faultstring></E:Fault></E:Body>
        </E:Envelope>"#;
        assert_eq!(parse(xml), Ok(SoapBody::Fault(Fault { code: Some(FaultCode::Server), detail: None })));
    }

    #[test]
    fn a_fault_code_in_a_foreign_namespace_is_not_recognised() {
        let xml = envelope(
            r#"<soap:Body><soap:Fault><faultcode xmlns:x="urn:other">x:Client</faultcode><faultstring>x</faultstring></soap:Fault></soap:Body>"#,
        );
        let Ok(SoapBody::Fault(fault)) = parse(&xml) else { panic!("expected a fault") };
        assert_eq!(fault.code, None);
    }

    #[test]
    fn only_the_registrys_own_fault_codes_are_repeated() {
        let status = reqwest::StatusCode::INTERNAL_SERVER_ERROR;
        let read = |xml: String| read_registry_answer(status, xml.as_bytes(), &SCHEMA, |_| Ok(()));
        let known = read(envelope(&format!("<soap:Body>{}</soap:Body>", fault("BROKEN"))));
        assert_eq!(known, Err(UpstreamError::Rejected("client fault BROKEN".into())));
        for code in ["OTHER_CODE", "29001011300036", "citizen 29001011300036"] {
            let unknown = read(envelope(&format!("<soap:Body>{}</soap:Body>", fault(code))));
            assert_eq!(unknown, Err(UpstreamError::Rejected("client fault unrecognised".into())), "{code}");
        }
        let not_found = read(envelope(&format!("<soap:Body>{}</soap:Body>", fault("NOT_FOUND"))));
        assert_eq!(not_found, Ok(Lookup::NotFound));
    }

    #[test]
    fn a_schema_breaking_success_answer_is_malformed() {
        let xml = envelope(&format!("<soap:Body>{ANSWER}</soap:Body><soap:Body>{ANSWER}</soap:Body>"));
        let answer = read_registry_answer(reqwest::StatusCode::OK, xml.as_bytes(), &SCHEMA, |_| Ok(()));
        assert_eq!(answer, Err(UpstreamError::Malformed("Envelope holds Body more than once or out of order".into())));
    }
}
