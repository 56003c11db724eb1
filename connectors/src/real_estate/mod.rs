//! The real-estate registry (الشهر العقاري): one SOAP 1.1 operation,
//! `GetProperty`, over HTTP POST to `{base_url}/real-estate/soap`.
//! Wire format: `schemas/upstream/real_estate.xsd`; codec: [`codec`].
//!
//! The connector makes exactly one HTTP attempt per fetch and has no timeout
//! of its own: retries, timeouts and caching are the gateway's.

pub mod codec;
mod record;

pub use record::{PropertyRecord, RegistrationStatus};

use crate::{Lookup, Registry, UpstreamError};

/// Answers larger than this are not read to the end: a property record is
/// well under 1 KiB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Client of the real-estate registry's SOAP endpoint.
#[derive(Debug, Clone)]
pub struct RealEstateRegistry {
    client: reqwest::Client,
    endpoint: String,
}

impl RealEstateRegistry {
    /// `base_url` is the registry's root, e.g. `http://127.0.0.1:8090`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        let endpoint = format!("{}{}", base_url.trim_end_matches('/'), codec::PATH);
        RealEstateRegistry { client, endpoint }
    }

    async fn call(&self, property_id: &str) -> Result<Lookup<PropertyRecord>, UpstreamError> {
        let (status, body) = crate::http::post_soap(
            &self.client,
            &self.endpoint,
            codec::SOAP_ACTION_HEADER,
            codec::build_request(property_id),
            MAX_ANSWER_BYTES,
        )
        .await?;
        let lookup = codec::parse_response(status, &body)?;
        if let Lookup::Found(record) = &lookup
            && record.property_id != property_id
        {
            return Err(UpstreamError::Malformed("answer is about another property".into()));
        }
        Ok(lookup)
    }
}

impl Registry for RealEstateRegistry {
    const NAME: &'static str = "real_estate";
    /// The property ID, already validated and upper-cased by the gateway.
    type Key = String;
    type Record = PropertyRecord;

    async fn fetch(&self, key: &Self::Key) -> Result<Lookup<Self::Record>, UpstreamError> {
        let outcome = self.call(key).await;
        if let Err(err) = &outcome {
            tracing::debug!(registry = Self::NAME, error = %err, "registry call failed");
        }
        outcome
    }
}
