//! The claim-guessing stop (CONTRACT §13). Guessing tries one claim with
//! value after value until the answer is `match`; a typo corrected once is
//! not guessing. So once one client has sent `verify.max_mismatches`
//! different values of one claim about one subject, each a mismatch, within
//! the window, its further verifications of that subject carrying that claim
//! are refused until the window has passed, before the cache or the registry
//! is asked.
//!
//! Values are compared by their normalised key (names: the Arabic name key)
//! and kept only as HMAC-SHA256 hashes, keyed by a secret the store holds (so
//! every replica hashes alike) and bound to the client, subject and claim (so
//! one hash says nothing about another citizen's). The rows live in the store:
//! the count is shared by every replica writing to it. Concurrent calls of one
//! client may each pass the check before any of them is recorded, so a burst
//! can try a few values more than the limit; every later call is stopped.

use crate::config::VerifySettings;
use crate::error::ApiError;
use crate::store::{ClaimMismatchRow, Store, StoreError};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;
use time::OffsetDateTime;

/// One claim of a verification, by its normalised key (never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimValue {
    /// The claim's field name (`mother_name`), as in the answer's `fields`.
    pub claim: &'static str,
    pub key: String,
}

impl ClaimValue {
    /// A name: compared by its Arabic name key (DOMAIN.md), so spellings
    /// that normalise alike count as one value.
    pub fn name(claim: &'static str, value: &str) -> ClaimValue {
        ClaimValue { claim, key: crate::domain::arabic_name::name_key(value).join(" ") }
    }

    /// A value already in its canonical form (a date, a national ID).
    pub fn exact(claim: &'static str, key: impl Into<String>) -> ClaimValue {
        ClaimValue { claim, key: key.into() }
    }
}

/// The stop, shared by the verification handlers.
#[derive(Clone)]
pub struct GuessStop {
    store: Store,
    key: Arc<Vec<u8>>,
    max: usize,
    window: time::Duration,
}

impl GuessStop {
    /// Reads the store's hashing key, generating it on the first start.
    pub async fn open(store: Store, settings: &VerifySettings) -> Result<GuessStop, StoreError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|_| StoreError::Unavailable)?;
        let key = store.claim_hash_key(&hex::encode(fresh)).await?;
        let key = hex::decode(key).map_err(|_| StoreError::Unavailable)?;
        let window = time::Duration::try_from(settings.window()).unwrap_or(time::Duration::HOUR);
        Ok(GuessStop { store, key: Arc::new(key), max: settings.max_mismatches as usize, window })
    }

    fn hash(&self, client: &str, subject: &str, value: &ClaimValue) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [client, subject, value.claim, &value.key] {
            // Length-prefixed, so that no two tuples hash the same input.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Refuses (429 `too_many_mismatches`) a call carrying a claim this
    /// client has guessed at about this subject; asks the store only when
    /// the call carries claims.
    pub async fn check(&self, client: &str, subject: &str, claims: &[ClaimValue]) -> Result<(), ApiError> {
        if claims.is_empty() {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        let since = crate::audit::format_rfc3339(now - self.window);
        let seen = self.store.claim_values_seen(client, subject, &since).await?;
        let mut retry_after: Option<u64> = None;
        for claim in claims {
            let mut times: Vec<&str> =
                seen.iter().filter(|s| s.claim == claim.claim).map(|s| s.last_at.as_str()).collect();
            if times.len() < self.max {
                continue;
            }
            // The stop lifts when fewer than `max` values are left in the
            // window: when the (n - max + 1)-th oldest value leaves it.
            times.sort_unstable();
            let lifts = parse_time(times[times.len() - self.max]).map(|t| t + self.window);
            let secs = lifts.map(|t| (t - now).whole_seconds().max(0) as u64 + 1).unwrap_or(1);
            retry_after = Some(retry_after.map_or(secs, |r| r.max(secs)));
        }
        match retry_after {
            Some(retry_after_secs) => Err(ApiError::TooManyMismatches { retry_after_secs }),
            None => Ok(()),
        }
    }

    /// The rows that record the claim values that mismatched. They go with
    /// the call's audit event, in its transaction: if they cannot be
    /// recorded, the answer is not given either.
    pub fn rows(&self, client: &str, subject: &str, mismatched: &[&ClaimValue]) -> Vec<ClaimMismatchRow> {
        if mismatched.is_empty() {
            return Vec::new();
        }
        let at = crate::audit::now_rfc3339();
        mismatched
            .iter()
            .map(|v| ClaimMismatchRow {
                client_id: client.to_owned(),
                subject: subject.to_owned(),
                claim: v.claim.to_owned(),
                value_hash: self.hash(client, subject, v),
                at: at.clone(),
            })
            .collect()
    }

    /// Deletes rows that left every window, now and then.
    pub async fn cleanup_loop(self, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = crate::audit::format_rfc3339(OffsetDateTime::now_utc() - self.window);
            if let Err(e) = self.store.delete_claim_mismatches_before(&cutoff).await {
                tracing::warn!(error = %e, "clean-up of claim mismatches failed; will retry");
            }
        }
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_normalise_alike_are_one_value() {
        assert_eq!(ClaimValue::name("mother_name", "فاطمة  حسن"), ClaimValue::name("mother_name", "فاطمه حسن"));
        assert_ne!(ClaimValue::name("mother_name", "فاطمة حسن"), ClaimValue::name("mother_name", "زينب حسن"));
    }
}
