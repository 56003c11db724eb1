//! The commercial register (السجل التجاري): one JSON/REST lookup,
//! `GET {base_url}/commercial-register/v1/offices/{office}/registrations/{number}`.
//! Wire format: `schemas/upstream/commercial_register.schema.json`; codec:
//! [`codec`].
//!
//! The connector makes exactly one HTTP attempt per fetch and has no timeout
//! of its own: retries, timeouts and caching are the gateway's.

pub mod codec;
mod record;

pub use record::{CompanyKey, CompanyRecord, CompanyStatus};

use reqwest::header::{ACCEPT, HeaderValue};

use crate::{Lookup, Registry, UpstreamError, rest};

/// Answers larger than this are not read to the end: a registration is well
/// under 1 KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Client of the commercial register's REST API.
#[derive(Debug, Clone)]
pub struct CommercialRegisterRegistry {
    client: reqwest::Client,
    base_url: String,
}

impl CommercialRegisterRegistry {
    /// `base_url` is the registry's root, e.g. `http://127.0.0.1:8090`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        CommercialRegisterRegistry { client, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    async fn call(&self, key: &CompanyKey) -> Result<Lookup<CompanyRecord>, UpstreamError> {
        let path = codec::path(key).ok_or_else(|| UpstreamError::Rejected("key cannot be put in a URL".into()))?;
        let response = crate::trace::propagate(self.client.get(format!("{}{path}", self.base_url)))
            .header(ACCEPT, HeaderValue::from_static(rest::CONTENT_TYPE))
            .send()
            .await
            .map_err(|err| UpstreamError::from_reqwest(&err))?;
        let (status, body) = crate::http::read_answer(response, MAX_ANSWER_BYTES).await?;
        let lookup = codec::parse_response(status, &body)?;
        if let Lookup::Found(record) = &lookup
            && (record.registration_number != key.registration_number || record.office != key.office)
        {
            return Err(UpstreamError::Malformed("answer is about another registration".into()));
        }
        Ok(lookup)
    }
}

impl Registry for CommercialRegisterRegistry {
    const NAME: &'static str = "commercial_register";
    /// Office and number, already validated and normalised by the gateway.
    type Key = CompanyKey;
    type Record = CompanyRecord;

    async fn fetch(&self, key: &Self::Key) -> Result<Lookup<Self::Record>, UpstreamError> {
        let outcome = self.call(key).await;
        if let Err(err) = &outcome {
            tracing::debug!(registry = Self::NAME, error = %err, "registry call failed");
        }
        outcome
    }
}
