//! Content models: what an element may hold, written down once per element
//! from the registry's XSD and checked against a parsed [`Element`] tree.
//!
//! Only the XSD constructs the registries use: an `xs:sequence` of elements
//! that occur once or at most once, optionally followed by elements of other
//! namespaces (`xs:any namespace="##other"`); text-only elements; and
//! `processContents="lax"` content that is not looked into. Simple-type
//! facets (patterns, enumerations) are the codecs' business, where the value
//! is parsed. Errors name only the model's own element names, never anything
//! taken from the document.

use super::{Element, XmlError};

/// One element a sequence expects.
#[derive(Debug, Clone, Copy)]
pub struct Particle {
    /// The element's namespace; `None` for an unqualified element (which is
    /// also accepted qualified with its parent's namespace, as some SOAP
    /// stacks write `faultcode`).
    pub namespace: Option<&'static str>,
    pub name: &'static str,
    /// `minOccurs="0"` (every particle has `maxOccurs="1"`).
    pub optional: bool,
    pub content: Content,
}

/// What an element may hold.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// Character data only: no child element.
    Text,
    /// These children, in this order, each at most once; then, when `open`,
    /// any number of elements of other namespaces. No text between them.
    Sequence { children: &'static [Particle], open: bool },
    /// Anything (`processContents="lax"`).
    Any,
}

impl Particle {
    /// A required element of `namespace`.
    pub const fn one(namespace: &'static str, name: &'static str, content: Content) -> Particle {
        Particle { namespace: Some(namespace), name, optional: false, content }
    }

    /// An optional element of `namespace`.
    pub const fn optional(namespace: &'static str, name: &'static str, content: Content) -> Particle {
        Particle { namespace: Some(namespace), name, optional: true, content }
    }

    /// Whether `element`, a child of `parent`, is this particle.
    pub fn matches(&self, element: &Element, parent: &Element) -> bool {
        if element.local_name != self.name {
            return false;
        }
        match self.namespace {
            Some(ns) => element.namespace.as_deref() == Some(ns),
            None => element.namespace.is_none() || element.namespace == parent.namespace,
        }
    }

    /// Checks that `element` (already [`matches`](Self::matches)) holds what
    /// this particle's content model allows, all the way down.
    pub fn check(&self, element: &Element) -> Result<(), XmlError> {
        match &self.content {
            Content::Any => Ok(()),
            Content::Text if element.children.is_empty() => Ok(()),
            Content::Text => Err(XmlError::owned(format!("{} holds an element where text belongs", self.name))),
            Content::Sequence { children, open } => self.check_sequence(element, children, *open),
        }
    }

    fn check_sequence(&self, element: &Element, particles: &[Particle], open: bool) -> Result<(), XmlError> {
        let name = self.name;
        if !element.text.trim().is_empty() {
            return Err(XmlError::owned(format!("{name} holds text where elements belong")));
        }
        // `next` is the first particle not yet seen: each occurs at most once.
        let mut next = 0;
        for child in &element.children {
            if let Some(seen) = particles[..next].iter().find(|p| p.matches(child, element)) {
                return Err(XmlError::owned(format!("{name} holds {} more than once or out of order", seen.name)));
            }
            match particles[next..].iter().position(|p| p.matches(child, element)) {
                Some(offset) => {
                    if let Some(missing) = particles[next..next + offset].iter().find(|p| !p.optional) {
                        return Err(XmlError::owned(format!("{name} lacks {} or has it out of order", missing.name)));
                    }
                    let particle = &particles[next + offset];
                    particle.check(child)?;
                    next += offset + 1;
                }
                None if open && is_foreign(child, element) => {
                    if let Some(missing) = particles[next..].iter().find(|p| !p.optional) {
                        return Err(XmlError::owned(format!("{name} lacks {}", missing.name)));
                    }
                    // Lax: an extension is not looked into; nothing of ours may follow it.
                    next = particles.len();
                }
                None => return Err(XmlError::owned(format!("{name} holds an element its schema does not allow"))),
            }
        }
        match particles[next..].iter().find(|p| !p.optional) {
            Some(missing) => Err(XmlError::owned(format!("{name} lacks {}", missing.name))),
            None => Ok(()),
        }
    }
}

/// `##other`: qualified, and not in the namespace of the element that holds it.
fn is_foreign(child: &Element, parent: &Element) -> bool {
    child.namespace.is_some() && child.namespace != parent.namespace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::parse_document;

    const NS: &str = "urn:test";

    const RECORD: Particle = Particle::one(
        NS,
        "Record",
        Content::Sequence {
            children: &[
                Particle::one(NS, "Id", Content::Text),
                Particle::optional(NS, "Note", Content::Text),
                Particle::one(NS, "Flag", Content::Text),
            ],
            open: true,
        },
    );

    fn check(xml: &str) -> Result<(), XmlError> {
        let root = parse_document(xml.as_bytes()).expect("well-formed");
        assert!(RECORD.matches(&root, &root), "the root is a Record");
        RECORD.check(&root)
    }

    fn record(inner: &str) -> String {
        format!(r#"<t:Record xmlns:t="urn:test" xmlns:o="urn:other">{inner}</t:Record>"#)
    }

    #[test]
    fn the_sequence_as_written_is_accepted_with_or_without_the_optional_element() {
        assert_eq!(check(&record("<t:Id>1</t:Id><t:Note>n</t:Note><t:Flag>x</t:Flag>")), Ok(()));
        assert_eq!(check(&record(" <t:Id>1</t:Id>\n <t:Flag>x</t:Flag> ")), Ok(()));
    }

    #[test]
    fn elements_of_other_namespaces_may_follow_and_are_not_looked_into() {
        let xml = record("<t:Id>1</t:Id><t:Flag>x</t:Flag><o:More><o:Deep>1</o:Deep></o:More><o:More/>");
        assert_eq!(check(&xml), Ok(()));
    }

    #[test]
    fn a_repeated_element_is_refused_by_name() {
        let err = check(&record("<t:Id>1</t:Id><t:Id>2</t:Id><t:Flag>x</t:Flag>")).unwrap_err();
        assert_eq!(err.to_string(), "Record holds Id more than once or out of order");
        let err = check(&record("<t:Id>1</t:Id><t:Flag>x</t:Flag><t:Flag>y</t:Flag>")).unwrap_err();
        assert_eq!(err.to_string(), "Record holds Flag more than once or out of order");
        let err = check(&record("<t:Id>1</t:Id><t:Note>a</t:Note><t:Flag>x</t:Flag><t:Note>b</t:Note>")).unwrap_err();
        assert_eq!(err.to_string(), "Record holds Note more than once or out of order");
    }

    #[test]
    fn a_missing_or_misplaced_element_is_refused() {
        assert_eq!(check(&record("<t:Id>1</t:Id>")).unwrap_err().to_string(), "Record lacks Flag");
        let err = check(&record("<t:Flag>x</t:Flag><t:Id>1</t:Id>")).unwrap_err();
        assert_eq!(err.to_string(), "Record lacks Id or has it out of order");
    }

    #[test]
    fn an_unknown_element_of_the_schema_namespace_or_without_one_is_refused() {
        for inner in [
            "<t:Id>1</t:Id><t:Flag>x</t:Flag><t:Extra/>",
            "<t:Id>1</t:Id><t:Flag>x</t:Flag><Extra/>",
            "<t:Id>1</t:Id><o:Early/><t:Flag>x</t:Flag>",
            "<t:Id>1</t:Id><t:Flag>x</t:Flag><o:Ext/><t:Note>late</t:Note>",
        ] {
            assert!(check(&record(inner)).is_err(), "{inner} was accepted");
        }
    }

    #[test]
    fn text_and_elements_stay_in_their_places() {
        let err = check(&record("<t:Id><t:Id>1</t:Id></t:Id><t:Flag>x</t:Flag>")).unwrap_err();
        assert_eq!(err.to_string(), "Id holds an element where text belongs");
        let err = check(&record("stray<t:Id>1</t:Id><t:Flag>x</t:Flag>")).unwrap_err();
        assert_eq!(err.to_string(), "Record holds text where elements belong");
    }

    #[test]
    fn errors_never_quote_the_document() {
        let err = check(&record("<t:Id>29001011300036</t:Id><t:Secret29001011300036/>")).unwrap_err();
        assert!(!err.to_string().contains("2900") && !err.to_string().contains("Secret"), "{err}");
    }
}
