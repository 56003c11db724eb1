//! Graceful shutdown (CONTRACT §14): the signals that start it, the flag
//! readiness reads, and the plan the gateway follows.
//!
//! On the first SIGTERM or SIGINT readiness turns `not_ready` at once. For
//! `server.shutdown_drain_seconds` the listener still accepts and serves (a
//! load balancer that checks readiness stops sending meanwhile); then it stops
//! accepting, keep-alive connections close after their current answer, and
//! calls in flight finish. Once the server has stopped, the SMS dispatcher
//! and the security worker finish the round they are in and end, the
//! group-commit writers (audit log, SMS outbox) commit what they hold and end,
//! the chain head is signed, and the other background loops stop: all within
//! `server.shutdown_grace_seconds` of the signal. A second signal meanwhile
//! exits at once with status 128 + its number; what was committed stays
//! committed (every 2xx was answered after its commit).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Whether this gateway is shutting down; `/readyz` answers `not_ready` once set.
#[derive(Debug, Default)]
pub struct Drain(AtomicBool);

impl Drain {
    pub fn new() -> Arc<Drain> {
        Arc::new(Drain::default())
    }

    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How long each phase of a shutdown may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// From the signal to the exit.
    pub grace: Duration,
    /// From the signal to the listener's close.
    pub drain: Duration,
}

impl Plan {
    pub fn new(grace_seconds: u64, drain_seconds: u64) -> Plan {
        let grace = Duration::from_secs(grace_seconds.max(1));
        Plan { grace, drain: Duration::from_secs(drain_seconds).min(grace) }
    }

    /// What the HTTP server gives calls in flight once it stops accepting
    /// (whole seconds, as actix counts them; at least one).
    pub fn server_timeout_seconds(&self) -> u64 {
        (self.grace - self.drain).as_secs().max(1)
    }
}

/// The signals that stop the gateway, installed before anything is built so
/// that none arriving during start-up kills the process unhandled.
pub struct Signals {
    term: Signal,
    int: Signal,
}

/// A signal received, as its number (for the exit status 128 + n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received(pub i32);

impl Received {
    pub fn name(self) -> &'static str {
        match self.0 {
            15 => "SIGTERM",
            2 => "SIGINT",
            _ => "signal",
        }
    }

    /// The exit status of a process ended by a second signal.
    pub fn exit_status(self) -> i32 {
        128 + self.0
    }
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// The next SIGTERM or SIGINT.
    pub async fn next(&mut self) -> Received {
        tokio::select! {
            _ = self.term.recv() => Received(15),
            _ = self.int.recv() => Received(2),
        }
    }

    /// From now on, the next signal ends the process at once: the operator
    /// does not want to wait for the grace period.
    pub fn exit_on_next(mut self) {
        tokio::spawn(async move {
            let second = self.next().await;
            tracing::warn!(signal = second.name(), "second signal during shutdown: exiting at once");
            // Exiting at once is the point: no destructor, no wait. What the
            // writers have not committed was never answered with a 2xx, and
            // what they have is on disk (a commit is durable when it returns).
            #[allow(clippy::disallowed_methods)]
            std::process::exit(second.exit_status());
        });
    }
}

/// Asks the workers that hand work to others (the SMS dispatcher, the
/// security worker) to stop after the round they are in, so that what they
/// sent is also recorded: an SMS the SMSC took is marked sent, not left
/// claimed for another replica to submit again after the lease.
#[derive(Debug, Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

/// The sending half of [`Stop`]: [`finish`] raises it.
#[derive(Debug)]
pub struct StopSender(tokio::sync::watch::Sender<bool>);

impl Stop {
    pub fn new() -> (StopSender, Stop) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (StopSender(tx), Stop(rx))
    }

    /// Whether the worker should end now (between two rounds).
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `pause`, or less if a stop comes meanwhile.
    pub async fn pause(&mut self, pause: std::time::Duration) {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.0.wait_for(|stop| *stop) => {}
        }
    }
}

impl StopSender {
    pub fn raise(&self) {
        let _ = self.0.send(true);
    }
}

/// The loops of a gateway, by how they end.
pub(crate) struct Tasks {
    /// Aborted where they stand (probes, tickers, cleanups).
    pub background: Vec<tokio::task::JoinHandle<()>>,
    /// Told to stop and awaited (see [`Stop`]); aborted at the deadline.
    pub workers: Vec<tokio::task::JoinHandle<()>>,
    pub stop: StopSender,
}

/// Stops the workers after their round and the other background loops at
/// once, waits (until `deadline`) for the writers to commit what they hold
/// and end, and signs the chain head. Whether the writers ended in time.
pub(crate) async fn finish(
    tasks: Tasks,
    writers: Vec<tokio::task::JoinHandle<()>>,
    sealer: Option<(crate::store::Store, crate::audit::Sealer)>,
    deadline: tokio::time::Instant,
) -> bool {
    let Tasks { background, workers, stop } = tasks;
    stop.raise();
    for task in &background {
        task.abort();
    }
    for task in background {
        let _ = task.await;
    }
    // A worker still in its round at the deadline is cut: what it claimed is
    // taken up again after its lease, as after a crash.
    let aborts: Vec<_> = workers.iter().map(|t| t.abort_handle()).collect();
    if tokio::time::timeout_at(deadline, futures::future::join_all(workers)).await.is_err() {
        tracing::warn!("shutting down: a background worker did not finish its round within the grace period");
        for a in aborts {
            a.abort();
        }
    }
    let all = futures::future::join_all(writers);
    let ended = match tokio::time::timeout_at(deadline, all).await {
        Ok(_) => true,
        Err(_) => {
            tracing::error!("shutting down: the audit or outbox writer did not finish within the grace period");
            false
        }
    };
    if ended && let Some((store, sealer)) = sealer {
        match tokio::time::timeout_at(deadline, store.checkpoint_head(&sealer)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "shutting down: last checkpoint not signed"),
            Err(_) => tracing::warn!("shutting down: last checkpoint not signed within the grace period"),
        }
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_gets_what_the_drain_leaves_of_the_grace() {
        assert_eq!(Plan::new(10, 2).server_timeout_seconds(), 8);
        assert_eq!(Plan::new(10, 0).server_timeout_seconds(), 10);
        // Never zero: actix would cut every call at once.
        assert_eq!(Plan::new(1, 5).server_timeout_seconds(), 1);
        assert_eq!(Plan::new(1, 5).drain, Duration::from_secs(1));
    }

    #[test]
    fn a_second_signal_exits_with_128_plus_its_number() {
        assert_eq!(Received(15).exit_status(), 143);
        assert_eq!(Received(2).exit_status(), 130);
        assert_eq!(Received(15).name(), "SIGTERM");
    }

    #[test]
    fn draining_is_seen_by_every_holder() {
        let drain = Drain::new();
        let seen = drain.clone();
        assert!(!seen.is_draining());
        drain.start();
        assert!(seen.is_draining());
    }
}
