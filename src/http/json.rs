//! The JSON body extractor of `/v1`: `application/json` only (415), at most
//! 64 KiB (413), read within the request's deadline (408), unknown fields
//! rejected, objects only (an array where an object belongs is refused, never
//! read positionally), and every parse error named by its field path (400).

use super::body;
use super::json_objects::Objects;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

pub const BODY_LIMIT: usize = body::JSON_LIMIT;

pub struct ApiJson<T>(pub T);

pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let (payload, declared, deadline) = body::prepare(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let body = body::read(payload, declared, BODY_LIMIT, deadline).await?;
            parse(&body).map(ApiJson)
        })
    }
}

/// Parses a JSON body into `T`, naming the failing field.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(Objects(&mut *de)) {
        // Characters after the value are refused, as `serde_json::from_slice` does.
        Ok(v) => match de.end() {
            Ok(()) => Ok(v),
            Err(e) => Err(ApiError::invalid_detail(format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ))),
        },
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let reason = match inner.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    return Err(ApiError::invalid_detail(format!(
                        "The body is not valid JSON (line {}, column {}).",
                        inner.line(),
                        inner.column()
                    )));
                }
                _ => describe(&inner.to_string()),
            };
            let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
            Err(ApiError::invalid(&field, &reason))
        }
    }
}

/// A short reason from a serde message, without echoing the client's value.
fn describe(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("unknown field {name}");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("missing field {name}");
    }
    if message.starts_with("invalid type") {
        let expected = message.split("expected ").nth(1).unwrap_or("another type");
        let expected = expected.split(" at line").next().unwrap_or(expected);
        // Never name an internal type: "struct ClaimsDto" is "an object" to a client.
        let expected = if expected.starts_with("struct ") || expected.starts_with("a map") {
            "an object"
        } else if expected.starts_with("a sequence") {
            "an array"
        } else {
            expected
        };
        return format!("wrong type, expected {expected}");
    }
    if message.starts_with("unknown variant") {
        return "unknown value".into();
    }
    "invalid value".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        a: String,
        inner: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: u32,
    }

    fn field_errors(r: Result<Body, ApiError>) -> Vec<(String, String)> {
        r.unwrap_err().field_errors().into_iter().map(|e| (e.field, e.reason)).collect()
    }

    #[test]
    fn an_unknown_nested_field_is_named_by_its_path() {
        let r = parse::<Body>(br#"{"a":"x","inner":{"b":1,"c":2}}"#);
        assert_eq!(field_errors(r), [("inner.c".into(), "unknown field c".into())]);
    }

    #[test]
    fn a_missing_field_is_named() {
        let r = parse::<Body>(br#"{"inner":{"b":1}}"#);
        assert_eq!(field_errors(r), [("body".into(), "missing field a".into())]);
    }

    #[test]
    fn a_wrong_type_does_not_echo_the_value() {
        let r = parse::<Body>(br#"{"a":"x","inner":{"b":"29001011300036"}}"#);
        let errs = field_errors(r);
        assert_eq!(errs[0].0, "inner.b");
        assert!(!errs[0].1.contains("2900"), "{errs:?}");
    }

    #[test]
    fn an_array_is_never_read_as_an_object() {
        let r = parse::<Body>(br#"["x", {"b": 1}]"#);
        assert_eq!(field_errors(r), [("body".into(), "wrong type, expected an object".into())]);
        let r = parse::<Body>(br#"{"a": "x", "inner": [1]}"#);
        assert_eq!(field_errors(r), [("inner".into(), "wrong type, expected an object".into())]);
        assert!(parse::<Body>(br#"{"a": "x", "inner": {"b": 1}}"#).is_ok());
    }

    #[test]
    fn arrays_of_objects_and_optional_objects_still_parse() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            list: Vec<Inner>,
            maybe: Option<Inner>,
        }
        let r = parse::<Outer>(br#"{"list": [{"b": 1}, {"b": 2}], "maybe": {"b": 3}}"#);
        assert!(r.is_ok());
        let r = parse::<Outer>(br#"{"list": [[1]], "maybe": null}"#);
        assert_eq!(r.err().unwrap().field_errors()[0].field, "list[0]");
        let r = parse::<Outer>(br#"{"list": [], "maybe": [3]}"#);
        assert_eq!(r.err().unwrap().field_errors()[0].field, "maybe");
    }

    #[test]
    fn characters_after_the_body_are_refused() {
        assert_eq!(parse::<Body>(br#"{"a": "x", "inner": {"b": 1}} {}"#).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn malformed_json_is_an_invalid_request() {
        let r = parse::<Body>(b"{\"a\":");
        assert_eq!(r.unwrap_err().code(), "invalid_request");
    }
}
