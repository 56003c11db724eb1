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
    reply: Reply,
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
    /// the current runtime. On SQLite the writer is a thread that owns a
    /// connection of its own (see `store::SqliteAppender`); on PostgreSQL a
    /// task on the runtime, whose store calls are network round trips anyway.
    pub fn start(
        store: Store,
        max_batch: usize,
        sealer: Sealer,
        checkpoint_interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<(AuditLog, Vec<JoinHandle<()>>), StoreError> {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 8);
        let health = Health { up: Arc::new(AtomicBool::new(true)), last_ok: Arc::new(AtomicU64::new(0)), metrics };
        let mut tasks = Vec::with_capacity(3);
        match &store {
            Store::Sqlite(s) => {
                let appender = s.audit_appender()?;
                let (sealer, health) = (sealer.clone(), health.clone());
                let thread = std::thread::Builder::new()
                    .name("audit-writer".into())
                    .spawn(move || thread_loop(appender, rx, max_batch, sealer, health))
                    .map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
                // The thread ends when every sender is gone; joined off the runtime.
                tasks.push(tokio::task::spawn_blocking(move || {
                    let _ = thread.join();
                }));
            }
            Store::Postgres(_) => {
                tasks.push(tokio::spawn(task_loop(store.clone(), rx, max_batch, sealer.clone(), health.clone())));
            }
        }
        tasks.push(tokio::spawn(checkpoint_loop(store.clone(), sealer, checkpoint_interval)));
        tasks.push(tokio::spawn(probe_loop(store.clone(), health.up.clone(), health.last_ok.clone(), health.metrics)));
        Ok((AuditLog { sink: Arc::new(GroupCommit { tx }), up: health.up, store }, tasks))
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

type Reply = oneshot::Sender<Result<AuditEvent, ()>>;

/// A batch's events and the handlers waiting for them, side by side, so
/// that the events go to the store without a copy.
struct Batch {
    events: Vec<NewEvent>,
    replies: Vec<Reply>,
    max: usize,
}

impl Batch {
    fn new(max: usize) -> Batch {
        Batch { events: Vec::with_capacity(max), replies: Vec::with_capacity(max), max }
    }

    /// `first` and whatever else has queued up, to the batch's size.
    fn fill(&mut self, first: Job, rx: &mut mpsc::Receiver<Job>) {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            self.events.push(job.event);
            self.replies.push(job.reply);
            if self.events.len() < self.max {
                next = rx.try_recv().ok();
            }
        }
    }
}

/// What the writer reports after each commit: the store's health and the metrics.
#[derive(Clone)]
struct Health {
    up: Arc<AtomicBool>,
    last_ok: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl Health {
    /// Answers every handler of `batch` with the commit's result.
    fn deliver(&self, batch: &mut Batch, result: Result<Vec<AuditEvent>, StoreError>, started: Instant) {
        self.metrics.audit_commit_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.audit_batch_size.observe(batch.events.len() as f64);
        batch.events.clear();
        match result {
            Ok(sealed) => {
                self.up.store(true, Ordering::Relaxed);
                self.last_ok.store(now_ms(), Ordering::Relaxed);
                self.metrics.audit_events.inc_by(sealed.len() as u64);
                for (reply, event) in batch.replies.drain(..).zip(sealed) {
                    let _ = reply.send(Ok(event));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.replies.len(), "audit commit failed");
                self.up.store(false, Ordering::Relaxed);
                self.metrics.audit_failures.inc_by(batch.replies.len() as u64);
                for reply in batch.replies.drain(..) {
                    let _ = reply.send(Err(()));
                }
            }
        }
    }
}

/// SQLite: the writer thread commits on its own connection; handlers' tasks
/// are woken straight from here.
fn thread_loop(
    mut appender: crate::store::SqliteAppender,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    sealer: Sealer,
    health: Health,
) {
    let mut batch = Batch::new(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.fill(first, &mut rx);
        let started = Instant::now();
        let result = appender.append(&batch.events, &sealer);
        health.deliver(&mut batch, result, started);
    }
}

/// PostgreSQL: the head is checked (or locked) inside the batch's statement,
/// so replicas sharing one store extend one chain, each batch after the other.
async fn task_loop(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize, sealer: Sealer, health: Health) {
    let mut batch = Batch::new(max_batch);
    while let Some(first) = rx.recv().await {
        batch.fill(first, &mut rx);
        let started = Instant::now();
        let result = store.append_events(&batch.events, &sealer).await;
        health.deliver(&mut batch, result, started);
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
