//! SOAP 1.1 plumbing shared by the SOAP registries (national ID, real
//! estate): writing envelopes with correct escaping, reading them
//! namespace-aware into a small element tree, and recognising faults.
//!
//! Only what the registries need: no DTDs (refused), no encodings other than
//! UTF-8, no attributes on payload elements. Errors carry fixed texts, never
//! content of the document (which may hold personal data).

use quick_xml::events::Event;
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::reader::NsReader;

use crate::{Lookup, UpstreamError};

/// The SOAP 1.1 envelope namespace.
pub const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Documents nested deeper than this are refused (a SOAP answer needs ~6).
const MAX_DEPTH: usize = 32;

/// Why a document could not be read. The text is fixed: it never quotes the
/// document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlError(pub &'static str);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for XmlError {}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Appends `text` to `out` escaped for element content or a double-quoted
/// attribute value. Characters XML 1.0 cannot carry at all (most C0 controls,
/// U+FFFE, U+FFFF) become U+FFFD; a carriage return is written as a character
/// reference so that it survives end-of-line normalisation.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// A minimal XML writer over a `String`: start tags, leaves, end tags.
/// Element names are the caller's constants; every text goes through
/// [`escape_into`].
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        XmlWriter { out }
    }

    /// `<name attr="value"...>`
    pub fn start(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// `</name>`
    pub fn end(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name, &[]);
        escape_into(&mut self.out, text);
        self.end(name)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes `<soap:Envelope><soap:Body>…</soap:Body></soap:Envelope>` around
/// what `body` writes. `namespaces` are declared on the envelope as
/// `(prefix, uri)`.
pub fn envelope(namespaces: &[(&str, &str)], body: impl FnOnce(&mut XmlWriter)) -> String {
    let declarations: Vec<(String, &str)> = std::iter::once(("xmlns:soap".to_owned(), ENVELOPE_NS))
        .chain(namespaces.iter().map(|(prefix, uri)| (format!("xmlns:{prefix}"), *uri)))
        .collect();
    let attributes: Vec<(&str, &str)> = declarations.iter().map(|(key, value)| (key.as_str(), *value)).collect();
    let mut w = XmlWriter::new();
    w.start("soap:Envelope", &attributes).start("soap:Body", &[]);
    body(&mut w);
    w.end("soap:Body").end("soap:Envelope");
    w.finish()
}

/// Writes a SOAP 1.1 fault envelope; `detail` writes the content of `<detail>`.
pub fn fault_envelope(
    namespaces: &[(&str, &str)],
    code: FaultCode,
    faultstring: &str,
    detail: impl FnOnce(&mut XmlWriter),
) -> String {
    envelope(namespaces, |w| {
        w.start("soap:Fault", &[])
            .leaf("faultcode", code.qualified())
            .leaf("faultstring", faultstring)
            .start("detail", &[]);
        detail(w);
        w.end("detail").end("soap:Fault");
    })
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// One element of a parsed document, its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The namespace URI, `None` for an unqualified element.
    pub namespace: Option<String>,
    pub local_name: String,
    /// The element's own character data (entities and character references
    /// resolved), children's text excluded.
    pub text: String,
    pub children: Vec<Element>,
    /// For `faultcode` only: the text read as a qualified name and resolved
    /// against the namespace declarations in scope, `(namespace, local name)`.
    qname_value: Option<(Option<String>, String)>,
}

impl Element {
    /// Whether this element is `{namespace}local_name`.
    pub fn is(&self, namespace: &str, local_name: &str) -> bool {
        self.namespace.as_deref() == Some(namespace) && self.local_name == local_name
    }

    /// The first child `{namespace}local_name`.
    pub fn child(&self, namespace: &str, local_name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(namespace, local_name))
    }

    /// The first child with this local name, whatever its namespace.
    pub fn child_any_ns(&self, local_name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local_name == local_name)
    }

    /// The trimmed text of the child `{namespace}local_name`.
    pub fn child_text(&self, namespace: &str, local_name: &str) -> Option<&str> {
        self.child(namespace, local_name).map(|c| c.text.trim())
    }
}

/// Parses a whole UTF-8 document into its root element.
pub fn parse_document(body: &[u8]) -> Result<Element, XmlError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let xml = std::str::from_utf8(body).map_err(|_| XmlError("body is not UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|_| XmlError("body is not well-formed XML"))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError("content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError("elements nested too deeply"));
                }
                let (resolved, local) = reader.resolver().resolve_element(start.name());
                let namespace = owned_namespace(resolved)?;
                stack.push(Element { namespace, local_name: local.into_inner().to_owned(), ..Element::default() });
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or(XmlError("end tag without start tag"))?;
                if element.local_name == "faultcode" {
                    // The declarations of this element are still in scope here.
                    let value = element.text.trim();
                    let (resolved, local) = reader.resolver().resolve_element(QName(value));
                    let namespace = owned_namespace(resolved)?;
                    element.qname_value = Some((namespace, local.into_inner().to_owned()));
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(XmlError("text outside the root element")),
                }
            }
            Event::CData(cdata) => {
                let current = stack.last_mut().ok_or(XmlError("text outside the root element"))?;
                current.text.push_str(&cdata.xml10_content());
            }
            Event::GeneralRef(reference) => {
                let current = stack.last_mut().ok_or(XmlError("text outside the root element"))?;
                let c = match reference.resolve_char_ref().map_err(|_| XmlError("invalid character reference"))? {
                    Some(c) => c,
                    None => match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(XmlError("undeclared entity reference")),
                    },
                };
                current.text.push(c);
            }
            Event::DocType(_) => return Err(XmlError("document type declarations are refused")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::Empty(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("document ends inside an element"));
    }
    root.ok_or(XmlError("document has no root element"))
}

fn owned_namespace(resolved: ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match resolved {
        ResolveResult::Bound(Namespace(uri)) => Ok(Some(uri.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(XmlError("undeclared namespace prefix")),
    }
}

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
    fn qualified(self) -> &'static str {
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
    /// The first element of `soap:Body`.
    Payload(Element),
    Fault(Fault),
}

/// Parses a SOAP 1.1 envelope and returns the body's payload or its fault.
pub fn parse_envelope(body: &[u8]) -> Result<SoapBody, XmlError> {
    let root = parse_document(body)?;
    if !root.is(ENVELOPE_NS, "Envelope") {
        return Err(XmlError("root element is not a SOAP 1.1 Envelope"));
    }
    let soap_body = root.child(ENVELOPE_NS, "Body").ok_or(XmlError("envelope has no Body"))?;
    let first = soap_body.children.first().ok_or(XmlError("SOAP Body is empty"))?;
    if !first.is(ENVELOPE_NS, "Fault") {
        return Ok(SoapBody::Payload(first.clone()));
    }
    // SOAP 1.1 leaves faultcode, faultstring and detail unqualified; some
    // servers qualify them anyway, so the namespace is not checked.
    let faultcode = first.child_any_ns("faultcode").ok_or(XmlError("fault has no faultcode"))?;
    let code = match &faultcode.qname_value {
        Some((Some(ns), local)) if ns == ENVELOPE_NS => FaultCode::from_local(local),
        _ => None,
    };
    Ok(SoapBody::Fault(Fault { code, detail: first.child_any_ns("detail").cloned() }))
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

/// The `detail/{namespace}RegistryFault/{namespace}Code` of a fault, only if
/// it looks like a code (upper-case letters, digits and `_`, at most 64): it
/// goes into error messages, so free text from the registry never does.
pub fn registry_fault_code<'a>(fault: &'a Fault, namespace: &str) -> Option<&'a str> {
    let code = fault.detail.as_ref()?.child(namespace, "RegistryFault")?.child_text(namespace, "Code")?;
    let looks_like_a_code = (1..=64).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    looks_like_a_code.then_some(code)
}

/// Reads a registry's answer and classifies it, the same way for every SOAP
/// registry.
///
/// The body is read first, whatever the status: SOAP servers send faults with
/// HTTP 500, and a fault says more than the status. A client fault whose
/// registry code is `not_found_code` is [`Lookup::NotFound`]; other client
/// faults (and `VersionMismatch`, `MustUnderstand`) are `Rejected`; server
/// faults are `Unavailable` (or `Malformed` when they come with a 2xx, which
/// SOAP forbids). Without a fault, a non-2xx status is classified by the
/// status, and a 2xx payload goes to `read_payload`.
pub fn read_registry_answer<T>(
    status: reqwest::StatusCode,
    body: &[u8],
    namespace: &str,
    not_found_code: &str,
    read_payload: impl FnOnce(&Element) -> Result<T, UpstreamError>,
) -> Result<Lookup<T>, UpstreamError> {
    match parse_envelope(body) {
        Ok(SoapBody::Fault(fault)) => classify_fault(status, &fault, namespace, not_found_code),
        Ok(SoapBody::Payload(payload)) if status.is_success() => read_payload(&payload).map(Lookup::Found),
        Err(err) if status.is_success() => Err(UpstreamError::Malformed(err.to_string())),
        Ok(SoapBody::Payload(_)) | Err(_) => Err(UpstreamError::from_status(status)),
    }
}

fn classify_fault<T>(
    status: reqwest::StatusCode,
    fault: &Fault,
    namespace: &str,
    not_found_code: &str,
) -> Result<Lookup<T>, UpstreamError> {
    let code = registry_fault_code(fault, namespace);
    let shown = code.unwrap_or("without a known code");
    match fault.code {
        Some(FaultCode::Client) if code == Some(not_found_code) => Ok(Lookup::NotFound),
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

    #[test]
    fn special_characters_are_escaped_in_text_and_attributes() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&\"c'\r\n\u{1}ي");
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&apos;&#13;\n\u{FFFD}ي");
    }

    #[test]
    fn escaped_text_reads_back_unchanged() {
        let original = "<tag> & \"quoted\" 'single' \r\n عبد الله";
        let mut w = XmlWriter::new();
        w.start("r", &[("xmlns", "urn:x")]).leaf("v", original).end("r");
        let root = parse_document(w.finish().as_bytes()).expect("parses");
        let value = root.child("urn:x", "v").expect("the leaf is in the default namespace");
        assert_eq!(value.text, original);
    }

    #[test]
    fn a_prefix_bound_elsewhere_still_resolves_to_the_envelope_namespace() {
        let xml = r#"<E:Envelope xmlns:E="http://schemas.xmlsoap.org/soap/envelope/">
            <E:Body><E:Fault><faultcode>E:Server.Busy</faultcode><faultstring>x</faultstring></E:Fault></E:Body>
        </E:Envelope>"#;
        let body = parse_envelope(xml.as_bytes()).expect("parses");
        assert_eq!(body, SoapBody::Fault(Fault { code: Some(FaultCode::Server), detail: None }));
    }

    #[test]
    fn a_fault_code_in_a_foreign_namespace_is_not_recognised() {
        let xml = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
            <soap:Body><soap:Fault><faultcode xmlns:x="urn:other">x:Client</faultcode></soap:Fault></soap:Body>
        </soap:Envelope>"#;
        let SoapBody::Fault(fault) = parse_envelope(xml.as_bytes()).expect("parses") else {
            panic!("expected a fault");
        };
        assert_eq!(fault.code, None);
    }

    #[test]
    fn character_references_and_cdata_are_read_as_text() {
        let xml = "<r>&#1605;&#x62D;<![CDATA[<ok>]]>&amp;</r>";
        let root = parse_document(xml.as_bytes()).expect("parses");
        assert_eq!(root.text, "مح<ok>&");
    }

    #[test]
    fn broken_documents_are_refused() {
        for xml in [
            "",
            "not xml at all",
            "<a><b></a>",
            "<a>",
            "<a/><b/>",
            "<a>&bogus;</a>",
            "<x:a/>",
            "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            "{\"json\": true}",
        ] {
            assert!(parse_document(xml.as_bytes()).is_err(), "{xml:?} was accepted");
        }
    }

    #[test]
    fn a_document_that_is_not_an_envelope_is_refused() {
        assert!(parse_envelope(b"<Envelope><Body><x/></Body></Envelope>").is_err());
        let empty = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
        assert!(parse_envelope(empty.as_bytes()).is_err());
    }
}
