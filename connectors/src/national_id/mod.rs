//! The national-ID registry (Civil Status Organization): two SOAP 1.1
//! operations over HTTP POST to `{base_url}/national-id/soap`: `GetCitizen`
//! (`schemas/upstream/national_id.xsd`, codec [`codec`]) and
//! `GetRegisteredMobile`, the mobile number registered to an ID
//! (`schemas/upstream/national_id_mobile.xsd`, codec [`mobile`]).
//!
//! The connector makes exactly one HTTP attempt per fetch and has no timeout
//! of its own: retries, timeouts and caching are the gateway's.

pub mod codec;
pub mod mobile;
mod record;

pub use mobile::RegisteredMobile;
pub use record::{CardStatus, CitizenRecord, Sex};

use crate::{Lookup, Registry, UpstreamError};

/// Answers larger than this are not read to the end: a citizen record is
/// well under 2 KiB.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Client of the national-ID registry's SOAP endpoint.
#[derive(Debug, Clone)]
pub struct NationalIdRegistry {
    client: reqwest::Client,
    endpoint: String,
}

impl NationalIdRegistry {
    /// `base_url` is the registry's root, e.g. `http://127.0.0.1:8090`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        let endpoint = format!("{}{}", base_url.trim_end_matches('/'), codec::PATH);
        NationalIdRegistry { client, endpoint }
    }

    async fn call(&self, national_id: &str) -> Result<Lookup<CitizenRecord>, UpstreamError> {
        let (status, body) = crate::http::post_soap(
            &self.client,
            &self.endpoint,
            codec::SOAP_ACTION_HEADER,
            codec::build_request(national_id),
            MAX_ANSWER_BYTES,
        )
        .await?;
        let lookup = codec::parse_response(status, &body)?;
        if let Lookup::Found(record) = &lookup
            && record.national_id != national_id
        {
            return Err(UpstreamError::Malformed("answer is about another national ID".into()));
        }
        Ok(lookup)
    }

    /// `GetRegisteredMobile`: the mobile number registered to `national_id`
    /// (14 ASCII digits). One HTTP attempt, like [`Registry::fetch`]; the
    /// answer is personal data and is never logged here.
    pub async fn registered_mobile(&self, national_id: &str) -> Result<Lookup<RegisteredMobile>, UpstreamError> {
        let (status, body) = crate::http::post_soap(
            &self.client,
            &self.endpoint,
            mobile::SOAP_ACTION_HEADER,
            mobile::build_request(national_id),
            MAX_ANSWER_BYTES,
        )
        .await?;
        let lookup = mobile::parse_response(status, &body);
        let lookup = match lookup {
            Ok(Lookup::Found(answer)) if answer.national_id != national_id => {
                Err(UpstreamError::Malformed("answer is about another national ID".into()))
            }
            other => other,
        };
        if let Err(err) = &lookup {
            tracing::debug!(registry = Self::NAME, operation = "GetRegisteredMobile", error = %err, "registry call failed");
        }
        lookup
    }
}

impl Registry for NationalIdRegistry {
    const NAME: &'static str = "national_id";
    /// 14 ASCII digits, already validated by the gateway.
    type Key = String;
    type Record = CitizenRecord;

    async fn fetch(&self, key: &Self::Key) -> Result<Lookup<Self::Record>, UpstreamError> {
        let outcome = self.call(key).await;
        if let Err(err) = &outcome {
            tracing::debug!(registry = Self::NAME, error = %err, "registry call failed");
        }
        outcome
    }
}
