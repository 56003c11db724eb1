//! The receipts' upkeep, on every replica: delete receipts past their expiry
//! and renew the published trust list (a key stays published while a receipt
//! it signed is unexpired). The first round runs at start-up, before the
//! gateway serves (see `Application::build`), so a restarted replica trusts
//! its older keys from its first request on.

use super::Receipts;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// One round: returns how many expired receipts were deleted.
pub async fn clean_once(store: &Store, receipts: &Receipts) -> Result<u64, StoreError> {
    let now = super::payload::format_time(time::OffsetDateTime::now_utc().unix_timestamp());
    let deleted = store.delete_expired_receipts(&now).await?;
    receipts.refresh(&store.receipt_kids_in_use(&now).await?);
    Ok(deleted)
}

pub async fn cleanup_loop(store: Store, receipts: Arc<Receipts>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: start-up has just done that round.
    tick.tick().await;
    loop {
        tick.tick().await;
        match clean_once(&store, &receipts).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired receipts deleted"),
            Err(e) => tracing::warn!(error = %e, "receipt clean-up failed; will retry"),
        }
    }
}
