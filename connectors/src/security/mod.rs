//! The security directorate (مديرية الأمن): asynchronous checks over
//! JSON/REST. A check is submitted once (`POST {base_url}/security/v1/checks`,
//! idempotent on the gateway's reference) and answered with a ticket; the
//! decision is asked for with the ticket
//! (`GET {base_url}/security/v1/checks/{ticket}`) until it is final.
//! Wire format: `schemas/upstream/security.schema.json`; codec: [`codec`].
//!
//! Not a [`crate::Registry`]: decisions are never cached. Each call is
//! exactly one HTTP attempt with no timeout of its own: the gateway's poller
//! retries and times out.

mod check;
pub mod codec;

pub use check::{CheckType, Decision, Submission, Ticket};

use reqwest::header::{ACCEPT, HeaderValue};

use crate::{UpstreamError, rest};

/// Answers larger than this are not read to the end.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Client of the security directorate's check API.
#[derive(Debug, Clone)]
pub struct SecurityDirectorate {
    client: reqwest::Client,
    base_url: String,
}

impl SecurityDirectorate {
    /// Stable name used in configuration, metrics, `/readyz`, `/_faults` and `/_stats`.
    pub const NAME: &'static str = "security";

    /// `base_url` is the directorate's root, e.g. `http://127.0.0.1:8090`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        SecurityDirectorate { client, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    /// Submits one check and returns its ticket. Submitting the same
    /// reference again (say, after a crash) returns the same ticket; the same
    /// reference with another national ID or check type is `Rejected`.
    pub async fn submit(&self, submission: &Submission) -> Result<Ticket, UpstreamError> {
        let outcome = async {
            let response = self
                .client
                .post(format!("{}{}", self.base_url, codec::CHECKS_PATH))
                .header(ACCEPT, HeaderValue::from_static(rest::CONTENT_TYPE))
                .json(&codec::build_submission(submission))
                .send()
                .await
                .map_err(|err| UpstreamError::from_reqwest(&err))?;
            let (status, body) = crate::http::read_answer(response, MAX_ANSWER_BYTES).await?;
            codec::parse_submit_response(status, &body, &submission.reference)
        }
        .await;
        if let Err(err) = &outcome {
            tracing::debug!(registry = Self::NAME, operation = "submit", error = %err, "registry call failed");
        }
        outcome
    }

    /// Asks where the check of this ticket stands. An unknown ticket is
    /// `Rejected`.
    pub async fn status(&self, ticket: &Ticket) -> Result<Decision, UpstreamError> {
        let outcome = async {
            let path = codec::status_path(ticket)
                .ok_or_else(|| UpstreamError::Rejected("ticket cannot be put in a URL".into()))?;
            let response = self
                .client
                .get(format!("{}{path}", self.base_url))
                .header(ACCEPT, HeaderValue::from_static(rest::CONTENT_TYPE))
                .send()
                .await
                .map_err(|err| UpstreamError::from_reqwest(&err))?;
            let (status, body) = crate::http::read_answer(response, MAX_ANSWER_BYTES).await?;
            codec::parse_status_response(status, &body, ticket)
        }
        .await;
        if let Err(err) = &outcome {
            tracing::debug!(registry = Self::NAME, operation = "status", error = %err, "registry call failed");
        }
        outcome
    }
}
