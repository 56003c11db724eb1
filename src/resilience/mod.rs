//! The one resilience stack every registry shares:
//! cache → single flight → circuit breaker → concurrency limit → retry with
//! backoff (transient failures only) → per-attempt timeout → the connector.
//!
//! It is generic over [`connectors::Registry`]; a registry only supplies its
//! settings block.

mod circuit;

pub use circuit::{Circuit, CircuitState};

use crate::audit::CacheUse;
use crate::config::RegistrySettings;
use crate::metrics::Metrics;
use connectors::{Lookup, Registry, UpstreamError};
use moka::Expiry;
use moka::future::Cache;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// The pause before a background job's next try (a security-check poll, a
/// callback, an SMS re-send): `base` doubled per attempt already made, at most
/// `cap`. Calls that a client waits for retry through [`Guard`] instead.
pub fn next_try_after(base: Duration, attempts: i64, cap: Duration) -> Duration {
    base.saturating_mul(1u32 << attempts.clamp(0, 16) as u32).min(cap)
}

/// The settings of one registry's stack, as durations.
#[derive(Debug, Clone)]
pub struct Policy {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max_elapsed: Duration,
    pub circuit_failure_threshold: u32,
    pub circuit_open: Duration,
    pub max_concurrency: usize,
    pub ttl: Duration,
    pub not_found_ttl: Duration,
    pub stale: Duration,
    pub capacity: u64,
}

impl From<&RegistrySettings> for Policy {
    fn from(s: &RegistrySettings) -> Self {
        Policy {
            timeout: Duration::from_millis(s.timeout_ms),
            max_attempts: s.max_attempts,
            backoff_initial: Duration::from_millis(s.backoff_initial_ms),
            backoff_max_elapsed: Duration::from_millis(s.backoff_max_elapsed_ms),
            circuit_failure_threshold: s.circuit_failure_threshold,
            circuit_open: Duration::from_millis(s.circuit_open_ms),
            max_concurrency: s.max_concurrency,
            ttl: Duration::from_secs(s.cache_ttl_seconds),
            not_found_ttl: Duration::from_secs(s.not_found_ttl_seconds),
            stale: Duration::from_secs(s.stale_seconds),
            capacity: s.cache_capacity,
        }
    }
}

/// A registry answer as kept in the cache.
#[derive(Debug)]
pub struct Cached<T> {
    pub lookup: Lookup<T>,
    pub fetched_at: Instant,
}

/// What the stack answers: the record (or its absence) and where it came from.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub entry: Arc<Cached<T>>,
    pub cache: CacheUse,
}

impl<T> Answer<T> {
    pub fn age(&self) -> Duration {
        self.entry.fetched_at.elapsed()
    }
    pub fn stale(&self) -> bool {
        self.cache == CacheUse::Stale
    }
}

/// Why no answer could be given (after retries, with no usable stale copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The registry failed or its circuit is open; retry after this long.
    Down { retry_after: Duration },
    /// The last attempt timed out.
    Timeout,
}

struct EntryExpiry {
    ttl: Duration,
    not_found_ttl: Duration,
    stale: Duration,
}

impl<K, T> Expiry<K, Arc<Cached<T>>> for EntryExpiry {
    fn expire_after_create(&self, _: &K, value: &Arc<Cached<T>>, _: Instant) -> Option<Duration> {
        Some(self.fresh_for(value) + self.stale)
    }
    fn expire_after_update(&self, _: &K, value: &Arc<Cached<T>>, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(self.fresh_for(value) + self.stale)
    }
}

impl EntryExpiry {
    fn fresh_for<T>(&self, value: &Cached<T>) -> Duration {
        match value.lookup {
            Lookup::Found(_) => self.ttl,
            Lookup::NotFound => self.not_found_ttl,
        }
    }
}

/// Circuit → concurrency limit → retry with backoff → per-attempt timeout:
/// the part of the stack every upstream call goes through, cached or not.
pub struct Guard {
    name: &'static str,
    policy: Policy,
    circuit: Arc<Circuit>,
    limit: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Guard {
    pub fn new(name: &'static str, policy: Policy, metrics: Arc<Metrics>) -> Guard {
        let gauge = metrics.circuit_state.with_label_values(&[name]);
        Guard {
            name,
            circuit: Arc::new(Circuit::new(policy.circuit_failure_threshold, policy.circuit_open, gauge)),
            limit: Arc::new(Semaphore::new(policy.max_concurrency)),
            policy,
            metrics,
        }
    }

    pub fn circuit(&self) -> Arc<Circuit> {
        self.circuit.clone()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs `attempt` under the circuit, the concurrency limit, retries of
    /// transient failures with backoff, and the per-attempt timeout, all
    /// within the call's budget (`backoff_max_elapsed`): waiting for a
    /// permit, every attempt and every pause between them end by then.
    pub async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, Unavailable>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let deadline = Instant::now() + self.policy.backoff_max_elapsed;
        let admitted = self.circuit.admit().map_err(|retry_after| Unavailable::Down { retry_after })?;
        let permit_wait = self.policy.timeout.min(self.policy.backoff_max_elapsed);
        let permit = match tokio::time::timeout(permit_wait, self.limit.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.circuit.record(admitted, None);
                return Err(Unavailable::Down { retry_after: Duration::from_secs(1) });
            }
        };
        let result = self.retrying(&mut attempt, deadline).await;
        drop(permit);
        match &result {
            Ok(_) => self.circuit.record(admitted, Some(true)),
            Err(e) => self.circuit.record(admitted, Some(!e.is_transient())),
        }
        result.map_err(|e| match e {
            UpstreamError::Timeout => Unavailable::Timeout,
            // The registry said when to come back: so does the gateway.
            UpstreamError::Busy(wait) => {
                Unavailable::Down { retry_after: wait.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER) }
            }
            _ => Unavailable::Down { retry_after: MIN_RETRY_AFTER },
        })
    }

    /// The attempts, until one succeeds, one fails for good, `max_attempts`
    /// are made, or the next could not start before `deadline`. The pause
    /// before the next attempt is the backoff schedule's, or the registry's
    /// `Retry-After` when that is longer; a pause that reaches the deadline
    /// is not taken (the failure is answered now instead of at the deadline).
    async fn retrying<T, F, Fut>(&self, attempt_fn: &mut F, deadline: Instant) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        use backoff::backoff::Backoff;
        let mut schedule = backoff::ExponentialBackoff {
            initial_interval: self.policy.backoff_initial,
            current_interval: self.policy.backoff_initial,
            multiplier: 2.0,
            randomization_factor: 0.5,
            max_interval: self.policy.backoff_max_elapsed,
            // The deadline bounds the whole call; the schedule only spaces attempts.
            max_elapsed_time: None,
            ..Default::default()
        };
        let name = self.name;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let limit = self.policy.timeout.min(remaining);
            let t0 = Instant::now();
            // One span an attempt, inside the request's (exported with it, see crate::otlp).
            let span =
                tracing::info_span!("registry_attempt", registry = name, attempt, result = tracing::field::Empty);
            let outcome = match tokio::time::timeout(limit, attempt_fn()).instrument(span.clone()).await {
                Ok(r) => r,
                Err(_) => Err(UpstreamError::Timeout),
            };
            self.metrics.registry_duration.with_label_values(&[name]).observe(t0.elapsed().as_secs_f64());
            let label = match &outcome {
                Ok(_) => "ok",
                Err(UpstreamError::Timeout) => "timeout",
                Err(UpstreamError::Unavailable(_) | UpstreamError::Busy(_)) => "unavailable",
                Err(UpstreamError::Malformed(_)) => "malformed",
                Err(UpstreamError::Rejected(_)) => "rejected",
            };
            span.record("result", label);
            self.metrics.registry_calls.with_label_values(&[name, label]).inc();
            let err = match outcome {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            tracing::warn!(registry = name, attempt, error = %err, "registry attempt failed");
            if !err.is_transient() || attempt >= self.policy.max_attempts {
                return Err(err);
            }
            let backoff = schedule.next_backoff().unwrap_or(self.policy.backoff_max_elapsed);
            let pause = match &err {
                UpstreamError::Busy(asked) => backoff.max(*asked),
                _ => backoff,
            };
            if Instant::now() + pause >= deadline {
                return Err(err);
            }
            tokio::time::sleep(pause).await;
        }
    }
}

/// The bounds of the `Retry-After` the gateway answers when a registry is
/// down or asked for a pause.
const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A cached registry: cache → single flight → [`Guard`] → the connector.
pub struct Resilient<R: Registry> {
    registry: Arc<R>,
    records: Cache<R::Key, Arc<Cached<R::Record>>>,
    inflight: Cache<R::Key, Arc<Cached<R::Record>>>,
    guard: Guard,
}

impl<R: Registry> Resilient<R> {
    pub fn new(registry: R, policy: Policy, metrics: Arc<Metrics>) -> Self {
        let records = Cache::builder()
            .max_capacity(policy.capacity)
            .expire_after(EntryExpiry { ttl: policy.ttl, not_found_ttl: policy.not_found_ttl, stale: policy.stale })
            .build();
        let inflight = Cache::builder().max_capacity(policy.capacity).build();
        Resilient { registry: Arc::new(registry), records, inflight, guard: Guard::new(R::NAME, policy, metrics) }
    }

    pub fn circuit(&self) -> Arc<Circuit> {
        self.guard.circuit()
    }

    /// Another operation of the same registry, through the same guard (its
    /// circuit, concurrency limit, retries and timeout) but never cached and
    /// never coalesced: for answers that must not be kept beside the records,
    /// such as the mobile number registered to a national ID.
    pub async fn call_uncached<'a, T, Fut>(&'a self, attempt: impl Fn(&'a R) -> Fut) -> Result<T, Unavailable>
    where
        Fut: Future<Output = Result<T, UpstreamError>> + 'a,
    {
        self.guard.call(|| attempt(&self.registry)).await
    }

    fn policy(&self) -> &Policy {
        self.guard.policy()
    }

    /// Looks `key` up: from the cache when fresh (unless `revalidate`), else
    /// from the registry, falling back to a stale copy when the registry fails.
    pub async fn get(&self, key: &R::Key, revalidate: bool) -> Result<Answer<R::Record>, Unavailable> {
        let cached = self.records.get(key).await;
        if let Some(entry) = &cached
            && !revalidate
            && entry.fetched_at.elapsed() < self.fresh_for(entry)
        {
            self.count_cache("hit");
            return Ok(Answer { entry: entry.clone(), cache: CacheUse::Hit });
        }
        self.count_cache(if revalidate { "revalidate" } else { "miss" });
        match self.fetch_coalesced(key).await {
            Ok(entry) => Ok(Answer { entry, cache: CacheUse::Miss }),
            Err(err) => match cached {
                Some(entry) if entry.fetched_at.elapsed() <= self.fresh_for(&entry) + self.policy().stale => {
                    self.count_cache("stale");
                    Ok(Answer { entry, cache: CacheUse::Stale })
                }
                _ => Err(err),
            },
        }
    }

    fn fresh_for(&self, entry: &Cached<R::Record>) -> Duration {
        match entry.lookup {
            Lookup::Found(_) => self.policy().ttl,
            Lookup::NotFound => self.policy().not_found_ttl,
        }
    }

    fn count_cache(&self, result: &str) {
        self.guard.metrics.cache_lookups.with_label_values(&[R::NAME, result]).inc();
    }

    /// Single flight: concurrent callers for one key share one upstream call
    /// (moka runs one initialiser per key and hands its result to every waiter).
    async fn fetch_coalesced(&self, key: &R::Key) -> Result<Arc<Cached<R::Record>>, Unavailable> {
        let result = self
            .inflight
            .try_get_with(key.clone(), async {
                let lookup = self.guard.call(|| self.registry.fetch(key)).await?;
                let entry = Arc::new(Cached { lookup, fetched_at: Instant::now() });
                self.records.insert(key.clone(), entry.clone()).await;
                Ok::<_, Unavailable>(entry)
            })
            .await;
        // The flight is over: the next miss must ask the registry again.
        self.inflight.invalidate(key).await;
        result.map_err(|e| (*e).clone())
    }
}
