//! Group commit for any kind of write: concurrent callers hand their item to
//! one task, which writes whatever has queued up in one transaction (one
//! fsync) and answers each caller with its own result.

use super::StoreError;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Reply<O> = oneshot::Sender<Result<O, ()>>;

pub struct Batcher<I, O> {
    tx: mpsc::Sender<(I, Reply<O>)>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher { tx: self.tx.clone() }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// `write` stores a batch in one transaction and returns one result per
    /// item, in order; its error fails the whole batch.
    pub fn start<F, Fut>(name: &'static str, max_batch: usize, write: F) -> (Self, JoinHandle<()>)
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<O>, StoreError>> + Send,
    {
        let max_batch = max_batch.max(1);
        let (tx, mut rx) = mpsc::channel::<(I, Reply<O>)>(max_batch * 4);
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
                let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.drain(..).unzip();
                let n = items.len();
                match write(items).await {
                    Ok(outcomes) if outcomes.len() == n => {
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                    Ok(_) => {
                        tracing::error!(writer = name, "group commit answered the wrong number of results");
                        replies.into_iter().for_each(|r| drop(r.send(Err(()))));
                    }
                    Err(e) => {
                        tracing::error!(writer = name, error = %e, items = n, "group commit failed");
                        replies.into_iter().for_each(|r| drop(r.send(Err(()))));
                    }
                }
            }
        });
        (Batcher { tx }, task)
    }

    /// Whether the batching task still takes items (it ends with the
    /// runtime it was started on).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Writes one item; durable when this returns Ok.
    pub async fn submit(&self, item: I) -> Result<O, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((item, reply)).await.map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?.map_err(|()| StoreError::Unavailable)
    }
}
