//! HTTP plumbing shared by every connector.

use reqwest::StatusCode;

use crate::UpstreamError;

/// Reads the whole answer, at most `limit` bytes. An answer larger than that
/// is `Malformed` on 2xx and classified by its status otherwise; a transport
/// failure while reading is classified as reqwest reports it.
pub(crate) async fn read_answer(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
    let status = response.status();
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
    let response = client
        .post(endpoint)
        .header(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"))
        .header("SOAPAction", HeaderValue::from_static(soap_action_header))
        .body(envelope)
        .send()
        .await
        .map_err(|err| UpstreamError::from_reqwest(&err))?;
    read_answer(response, limit).await
}
