//! The SMSC (the operator's short message service centre for short code
//! 5960) over its HTTP JSON API. The gateway submits each message once
//! (`POST {base_url}/smsc/v1/messages`, idempotent on the gateway's message
//! id, `client_ref`); the SMSC later posts a [`DeliveryReport`] to
//! `{gateway}/v1/sms/delivery-reports`, and every message a citizen texts to
//! the short code as an [`InboundMessage`] to `{gateway}/v1/sms/inbound`,
//! both signed with [`SIGNATURE_HEADER`] ([`sign`], [`verify`]).
//! Wire format: `schemas/upstream/smsc.schema.json`; codec: [`codec`].
//!
//! Not a [`crate::Registry`]: nothing is cached. [`Smsc::submit`] is exactly
//! one HTTP attempt with no timeout of its own. Because the SMSC honours
//! `client_ref`, the gateway's dispatcher may submit the same message again
//! after any failure, a timeout included: a message that did reach the SMSC
//! comes back as a duplicate and is not sent twice.

pub mod codec;
mod message;
mod signature;

pub use codec::{DELIVERY_REPORTS_PATH, INBOUND_PATH, SHORT_CODE};
pub use message::{DELIVERED, DeliveryReport, InboundMessage, SmsEncoding, Submission, SubmitAck, UNDELIVERED};
pub use signature::{MAX_SIGNATURE_AGE_SECS, SIGNATURE_HEADER, sign, verify};

use reqwest::header::{ACCEPT, HeaderValue};

use crate::{UpstreamError, rest};

/// Answers larger than this are not read to the end: an acknowledgement is
/// well under 1 KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Client of the SMSC's submission API.
#[derive(Debug, Clone)]
pub struct Smsc {
    client: reqwest::Client,
    base_url: String,
}

impl Smsc {
    /// Stable name used in configuration, metrics, `/readyz`, `/_faults` and `/_stats`.
    pub const NAME: &'static str = "smsc";

    /// `base_url` is the SMSC's root, e.g. `http://127.0.0.1:8090`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        Smsc { client, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    /// One attempt. The SMSC is idempotent on `client_ref`: a re-submission
    /// returns the first answer with `duplicate: true` and is not sent again.
    ///
    /// 5xx, 429 and transport failures are `Unavailable` (or `Timeout`), a
    /// 4xx is `Rejected`, a 2xx that is not an acknowledgement of this
    /// `client_ref` is `Malformed`.
    pub async fn submit(&self, m: &Submission) -> Result<SubmitAck, UpstreamError> {
        let outcome = async {
            let response = self
                .client
                .post(format!("{}{}", self.base_url, codec::MESSAGES_PATH))
                .header(ACCEPT, HeaderValue::from_static(rest::CONTENT_TYPE))
                .json(&codec::build_submission(m))
                .send()
                .await
                .map_err(|err| UpstreamError::from_reqwest(&err))?;
            let (status, body) = crate::http::read_answer(response, MAX_ANSWER_BYTES).await?;
            codec::parse_submit_response(status, &body, &m.client_ref)
        }
        .await;
        match &outcome {
            Ok(ack) => {
                tracing::debug!(registry = Self::NAME, operation = "submit", duplicate = ack.duplicate, "submitted")
            }
            Err(err) => {
                tracing::debug!(registry = Self::NAME, operation = "submit", error = %err, "registry call failed")
            }
        }
        outcome
    }
}
