//! Group commit for the outbox's writes that callers wait on: accepted
//! messages (`POST /v1/sms`, inbound replies) and delivery reports. Concurrent
//! calls share one transaction, so the outbox takes many writes per fsync.

use crate::store::group::Batcher;
use crate::store::{DeliveryEffect, IdempotencyKey, SmsAccept, SmsDelivery, SmsMessageRow, Store, StoreError};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct SmsAcceptor {
    accepts: Batcher<(Option<IdempotencyKey>, SmsMessageRow), SmsAccept>,
    deliveries: Batcher<SmsDelivery, DeliveryEffect>,
}

impl SmsAcceptor {
    pub fn start(store: Store, max_batch: usize) -> (SmsAcceptor, Vec<JoinHandle<()>>) {
        let s = store.clone();
        let (accepts, a) = Batcher::start("sms accept", max_batch, move |items: Vec<_>| {
            let s = s.clone();
            async move { s.accept_sms_batch(items).await }
        });
        let (deliveries, d) = Batcher::start("sms delivery", max_batch, move |items: Vec<SmsDelivery>| {
            let s = store.clone();
            async move { s.sms_deliveries(&items).await }
        });
        (SmsAcceptor { accepts, deliveries }, vec![a, d])
    }

    /// Stores one message; durable when this returns Ok.
    pub async fn accept(&self, key: Option<IdempotencyKey>, message: SmsMessageRow) -> Result<SmsAccept, StoreError> {
        self.accepts.submit((key, message)).await
    }

    /// Applies one delivery report: what it did to its message.
    pub async fn delivery(&self, report: SmsDelivery) -> Result<DeliveryEffect, StoreError> {
        self.deliveries.submit(report).await
    }
}
