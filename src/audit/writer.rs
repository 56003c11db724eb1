//! Group commit: handlers hand events to one writer task, which seals them into
//! the chain and commits whatever has queued up in one transaction. A handler
//! answers only after its event's commit has returned.

use super::{AuditEvent, CacheUse, GENESIS_HASH, NewEvent, event_hash};
use crate::metrics::Metrics;
use crate::store::{ChainHead, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<AuditEvent, ()>>,
}

/// The handle handlers append through. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    up: Arc<AtomicBool>,
    store: Store,
}

/// Milliseconds since `EPOCH` of the last successful commit (0: none yet).
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl AuditLog {
    /// Starts the writer and the store-health probe on the current runtime.
    pub fn start(store: Store, max_batch: usize, metrics: Arc<Metrics>) -> (AuditLog, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
        let up = Arc::new(AtomicBool::new(true));
        let last_ok = Arc::new(AtomicU64::new(0));
        let tasks = vec![
            tokio::spawn(write_loop(store.clone(), rx, max_batch.max(1), up.clone(), last_ok.clone(), metrics.clone())),
            tokio::spawn(probe_loop(store.clone(), up.clone(), last_ok, metrics)),
        ];
        (AuditLog { tx, up, store }, tasks)
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
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { event, reply }).await.map_err(|_| StoreError::Unavailable)?;
        rx.await.map_err(|_| StoreError::Unavailable)?.map_err(|()| StoreError::Unavailable)
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    up: Arc<AtomicBool>,
    last_ok: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
) {
    let mut head: Option<ChainHead> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = commit(&store, &mut head, &batch).await;
        metrics.audit_commit_seconds.observe(started.elapsed().as_secs_f64());
        metrics.audit_batch_size.observe(batch.len() as f64);
        match result {
            Ok(sealed) => {
                up.store(true, Ordering::Relaxed);
                last_ok.store(now_ms(), Ordering::Relaxed);
                metrics.audit_events.inc_by(sealed.len() as u64);
                for (job, event) in batch.drain(..).zip(sealed) {
                    let _ = job.reply.send(Ok(event));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "audit commit failed");
                up.store(false, Ordering::Relaxed);
                metrics.audit_failures.inc_by(batch.len() as u64);
                // The outcome of a failed commit is unknown: re-read the head.
                head = None;
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(()));
                }
            }
        }
    }
}

async fn commit(store: &Store, head: &mut Option<ChainHead>, batch: &[Job]) -> Result<Vec<AuditEvent>, StoreError> {
    let current = match head.take() {
        Some(h) => h,
        None => store.chain_head().await?.unwrap_or(ChainHead { seq: 0, hash: GENESIS_HASH.to_owned() }),
    };
    let mut seq = current.seq;
    let mut prev = current.hash.clone();
    let sealed: Vec<AuditEvent> = batch
        .iter()
        .map(|job| {
            seq += 1;
            let e = &job.event;
            let mut event = AuditEvent {
                id: e.id.clone(),
                seq,
                at: e.at.clone(),
                client_id: e.client_id.clone(),
                center_id: e.center_id.clone(),
                operator_id: e.operator_id.clone(),
                action: e.action.unwrap_or(super::Action::AuthDenied),
                subject: e.subject.clone(),
                purpose: e.purpose.clone(),
                case_ref: e.case_ref.clone(),
                outcome: e.outcome.clone(),
                http_status: e.http_status,
                cache: e.cache.unwrap_or(CacheUse::None),
                duration_ms: e.duration_ms,
                prev_hash: std::mem::take(&mut prev),
                hash: String::new(),
            };
            event.hash = event_hash(&event);
            prev = event.hash.clone();
            event
        })
        .collect();
    match store.append_events(&sealed).await {
        Ok(()) => {
            *head = Some(ChainHead { seq, hash: prev });
            Ok(sealed)
        }
        Err(e) => {
            *head = None;
            Err(e)
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
