//! SOAP 1.1 plumbing shared by the SOAP registries (national ID, real
//! estate): writing envelopes with correct escaping, reading them
//! namespace-aware into a small element tree ([`parse_document`]), checking
//! that tree against the registry's content models ([`model`], from its XSD)
//! and recognising faults ([`envelope`]).
//!
//! Only what the registries need: no DTDs (refused), no encodings other than
//! UTF-8, no attributes on payload elements. Errors carry fixed texts, never
//! content of the document (which may hold personal data).

mod envelope;
pub mod model;

pub use envelope::{
    Fault, FaultCode, RegistrySchema, SoapBody, parse_boolean, parse_envelope, read_registry_answer,
    registry_fault_code, write_registry_fault,
};

use quick_xml::events::Event;
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::reader::NsReader;
use std::borrow::Cow;

/// The SOAP 1.1 envelope namespace.
pub const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Documents nested deeper than this are refused (a SOAP answer needs ~6).
const MAX_DEPTH: usize = 32;

/// Why a document could not be read. The text is fixed or made of a content
/// model's own names: it never quotes the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(Cow<'static, str>);

impl XmlError {
    pub const fn new(text: &'static str) -> Self {
        XmlError(Cow::Borrowed(text))
    }

    /// A text built from a content model's names (never from the document).
    pub(crate) fn owned(text: String) -> Self {
        XmlError(Cow::Owned(text))
    }
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
    pub(crate) qname_value: Option<(Option<String>, String)>,
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
    let xml = std::str::from_utf8(body).map_err(|_| XmlError::new("body is not UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|_| XmlError::new("body is not well-formed XML"))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::new("content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::new("elements nested too deeply"));
                }
                let (resolved, local) = reader.resolver().resolve_element(start.name());
                let namespace = owned_namespace(resolved)?;
                stack.push(Element { namespace, local_name: local.into_inner().to_owned(), ..Element::default() });
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or(XmlError::new("end tag without start tag"))?;
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
                    None => return Err(XmlError::new("text outside the root element")),
                }
            }
            Event::CData(cdata) => {
                let current = stack.last_mut().ok_or(XmlError::new("text outside the root element"))?;
                current.text.push_str(&cdata.xml10_content());
            }
            Event::GeneralRef(reference) => {
                let current = stack.last_mut().ok_or(XmlError::new("text outside the root element"))?;
                let c = match reference.resolve_char_ref().map_err(|_| XmlError::new("invalid character reference"))? {
                    Some(c) => c,
                    None => match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(XmlError::new("undeclared entity reference")),
                    },
                };
                current.text.push(c);
            }
            Event::DocType(_) => return Err(XmlError::new("document type declarations are refused")),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::Empty(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::new("document ends inside an element"));
    }
    root.ok_or(XmlError::new("document has no root element"))
}

fn owned_namespace(resolved: ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match resolved {
        ResolveResult::Bound(Namespace(uri)) => Ok(Some(uri.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(XmlError::new("undeclared namespace prefix")),
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
}
