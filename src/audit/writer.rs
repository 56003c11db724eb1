//! Group commit: handlers hand events to one writer task, which seals them into
//! the chain and commits whatever has queued up in one transaction. A handler
//! answers only after its event's commit has returned.

use super::{AuditEvent, CheckpointKey, NewEvent};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<AuditEvent, ()>>,
}

/// Where audit events go. The product has one sink, the group-commit writer
/// below; the trait exists so that a benchmark can measure the request path
/// beside a sink that keeps nothing (never a setting of the product).
pub trait AuditSink: Send + Sync + 'static {
    /// Appends one event; Ok only once it is durable.
    fn append(&self, event: NewEvent) -> BoxFuture<'_, Result<AuditEvent, StoreError>>;
}

/// What the writer needs to seal and sign: the checkpoint key and cadence.
#[derive(Clone, Debug)]
pub struct Sealer {
    pub key: Arc<CheckpointKey>,
    /// Sign a checkpoint when the head is this many events past the last one.
    pub every: i64,
}

/// The handle handlers append through. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<dyn AuditSink>,
    up: Arc<AtomicBool>,
    store: Store,
}

/// The group-commit writer: one task seals and commits whatever has queued up.
struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl AuditSink for GroupCommit {
    fn append(&self, event: NewEvent) -> BoxFuture<'_, Result<AuditEvent, StoreError>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.tx.send(Job { event, reply }).await.map_err(|_| StoreError::Unavailable)?;
            rx.await.map_err(|_| StoreError::Unavailable)?.map_err(|()| StoreError::Unavailable)
        })
    }
}

/// Milliseconds since `EPOCH` of the last successful commit (0: none yet).
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl AuditLog {
    /// Starts the writer, the checkpoint ticker and the store-health probe on
    /// the current runtime.
    pub fn start(
        store: Store,
        max_batch: usize,
        sealer: Sealer,
        checkpoint_interval: Duration,
        metrics: Arc<Metrics>,
    ) -> (AuditLog, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let up = Arc::new(AtomicBool::new(true));
        let last_ok = Arc::new(AtomicU64::new(0));
        let tasks = vec![
            tokio::spawn(write_loop(
                store.clone(),
                rx,
                max_batch.max(1),
                sealer.clone(),
                up.clone(),
                last_ok.clone(),
                metrics.clone(),
            )),
            tokio::spawn(checkpoint_loop(store.clone(), sealer, checkpoint_interval)),
            tokio::spawn(probe_loop(store.clone(), up.clone(), last_ok, metrics)),
        ];
        (AuditLog { sink: Arc::new(GroupCommit { tx }), up, store }, tasks)
    }

    /// An audit log over another sink (benchmarks only: see [`AuditSink`]).
    pub fn with_sink(store: Store, sink: Arc<dyn AuditSink>) -> AuditLog {
        AuditLog { sink, up: Arc::new(AtomicBool::new(true)), store }
    }

    /// Whether the store took its last write (or probe). Data calls check this
    /// before calling a registry, so that a down store makes no upstream call.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Appends one event and waits until it is durable.
    pub async fn append(&self, event: NewEvent) -> Result<AuditEvent, StoreError> {
        self.sink.append(event).await
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    sealer: Sealer,
    up: Arc<AtomicBool>,
    last_ok: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
) {
    // A batch's events and the handlers waiting for them, side by side, so
    // that the events go to the store without a copy.
    let mut events: Vec<NewEvent> = Vec::with_capacity(max_batch);
    let mut replies: Vec<oneshot::Sender<Result<AuditEvent, ()>>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            events.push(job.event);
            replies.push(job.reply);
            if events.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        let started = Instant::now();
        // The head is read and locked inside the transaction, so replicas
        // sharing one store extend one chain, each batch after the other.
        let result = store.append_events(&events, &sealer).await;
        metrics.audit_commit_seconds.observe(started.elapsed().as_secs_f64());
        metrics.audit_batch_size.observe(events.len() as f64);
        events.clear();
        match result {
            Ok(sealed) => {
                up.store(true, Ordering::Relaxed);
                last_ok.store(now_ms(), Ordering::Relaxed);
                metrics.audit_events.inc_by(sealed.len() as u64);
                for (reply, event) in replies.drain(..).zip(sealed) {
                    let _ = reply.send(Ok(event));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = replies.len(), "audit commit failed");
                up.store(false, Ordering::Relaxed);
                metrics.audit_failures.inc_by(replies.len() as u64);
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(()));
                }
            }
        }
    }
}

/// Signs the head when the log has grown but not by `every` events, so that a
/// quiet log's last events are not left unsigned for long.
async fn checkpoint_loop(store: Store, sealer: Sealer, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.checkpoint_head(&sealer).await {
            tracing::warn!(error = %e, "audit checkpoint failed; will retry");
        }
    }
}

/// Finds out whether the store takes writes when nothing else says so: a
/// commit in the last second is proof enough (a probe would only queue for the
/// write lock behind busy writers and could time out on a healthy store).
async fn probe_loop(store: Store, up: Arc<AtomicBool>, last_ok: Arc<AtomicU64>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let started = now_ms();
        if last_ok.load(Ordering::Relaxed) + 1000 > started && up.load(Ordering::Relaxed) {
            metrics.store_up.set(1);
            continue;
        }
        let probed = store.probe().await.is_ok();
        // A commit that succeeded while the probe waited also proves the store up.
        let ok = probed || last_ok.load(Ordering::Relaxed) >= started;
        if ok != up.load(Ordering::Relaxed) {
            tracing::warn!(store_up = ok, "store health changed");
        }
        up.store(ok, Ordering::Relaxed);
        metrics.store_up.set(if ok { 1 } else { 0 });
    }
}
