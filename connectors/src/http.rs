//! HTTP plumbing shared by every connector.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

use crate::UpstreamError;

/// Reads the whole answer, at most `limit` bytes. An answer larger than that
/// is `Malformed` on 2xx and classified by its status otherwise; a transport
/// failure while reading is classified as reqwest reports it.
///
/// Before any of the body is read: a 3xx is refused (registry clients never
/// follow redirects, and a redirect's body is not the registry's answer), and
/// a 429 or 503 with a `Retry-After` is [`UpstreamError::Busy`], whatever its
/// body says.
pub(crate) async fn read_answer(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(UpstreamError::redirect(status));
    }
    if (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
        && let Some(wait) = retry_after(response.headers(), SystemTime::now())
    {
        return Err(UpstreamError::Busy(wait));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| UpstreamError::from_reqwest(&err))? {
        if body.len() + chunk.len() > limit {
            return Err(if status.is_success() {
                UpstreamError::Malformed("answer too large".into())
            } else {
                UpstreamError::from_status(status)
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// One SOAP 1.1 exchange: POSTs `envelope` to `endpoint` with the operation's
/// `SOAPAction` (already quoted) and reads the whole answer.
pub(crate) async fn post_soap(
    client: &reqwest::Client,
    endpoint: &str,
    soap_action_header: &'static str,
    envelope: String,
    limit: usize,
) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
    use reqwest::header::{CONTENT_TYPE, HeaderValue};
    let response = crate::trace::propagate(client.post(endpoint))
        .header(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"))
        .header("SOAPAction", HeaderValue::from_static(soap_action_header))
        .body(envelope)
        .send()
        .await
        .map_err(|err| UpstreamError::from_reqwest(&err))?;
    read_answer(response, limit).await
}

/// The pause a `Retry-After` asks for: delay-seconds or an HTTP-date (RFC
/// 9110 §10.2.3); a date in the past is no pause. `None` when absent or
/// unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // An absurd number of seconds is still "longer than any budget".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Thu, 03 Dec 2026 06:00:00 GMT").unwrap();
        assert_eq!(retry_after(&headers("120"), now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers("0"), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("Thu, 03 Dec 2026 06:00:30 GMT"), now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(&headers("Thu, 03 Dec 2026 05:00:00 GMT"), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("99999999999999999999999"), now), Some(Duration::from_secs(u64::MAX)));
        for junk in ["", "-1", "1.5", "soon", "29001011300036 s"] {
            assert_eq!(retry_after(&headers(junk), now), None, "{junk:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
