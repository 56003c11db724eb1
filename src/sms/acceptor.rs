//! Group commit for accepted messages: concurrent `POST /v1/sms` calls (and
//! inbound replies) share one transaction, so the outbox takes many messages
//! per fsync. A caller's answer waits until its message is committed.

use crate::store::{IdempotencyKey, SmsAccept, SmsMessageRow, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Reply = oneshot::Sender<Result<SmsAccept, ()>>;

#[derive(Clone)]
pub struct SmsAcceptor {
    tx: mpsc::Sender<(Option<IdempotencyKey>, SmsMessageRow, Reply)>,
}

impl SmsAcceptor {
    pub fn start(store: Store, max_batch: usize) -> (SmsAcceptor, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<(Option<IdempotencyKey>, SmsMessageRow, Reply)>(max_batch.max(1) * 4);
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|(k, m, r)| ((k, m), r)).unzip();
                match store.accept_sms_batch(&items).await {
                    Ok(outcomes) => {
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, messages = items.len(), "sms accept commit failed");
                        for reply in replies {
                            let _ = reply.send(Err(()));
                        }
                    }
                }
            }
        });
        (SmsAcceptor { tx }, task)
    }

    /// Stores one message; durable when this returns Ok.
    pub async fn accept(&self, key: Option<IdempotencyKey>, message: SmsMessageRow) -> Result<SmsAccept, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((key, message, reply)).await.map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?.map_err(|()| StoreError::Unavailable)
    }
}
