//! The outbox dispatcher: sends due messages to the SMSC no faster than the
//! configured rate, retries transient failures with backoff, and never sends
//! one twice — every submission carries the message id as the SMSC's
//! `client_ref`, which the SMSC honours as an idempotency key, so a re-send
//! after a crash between "sent" and "recorded" is recognised, not repeated.

use crate::audit::format_rfc3339;
use crate::resilience::{Guard, next_try_after};
use crate::store::{SmsMessageRow, SmsSent, Store};
use connectors::smsc::{SmsEncoding, Smsc, Submission};
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub sender: String,
    pub messages_per_second: u32,
    pub tick: Duration,
    /// A message still not accepted by the SMSC this long after it was queued fails.
    pub give_up_after: Duration,
    /// How long claimed messages are this replica's (see `store.lease_seconds`).
    pub lease: Duration,
}

pub struct Dispatcher {
    pub store: Store,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub smsc: Arc<Smsc>,
    pub guard: Arc<Guard>,
    pub settings: DispatchSettings,
}

impl Dispatcher {
    /// Runs rounds until `stop`, which ends it after the round in progress
    /// (its submissions recorded).
    pub fn spawn(self, mut stop: crate::shutdown::Stop) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let rate = NonZeroU32::new(self.settings.messages_per_second).unwrap_or(NonZeroU32::MIN);
            let limiter: Arc<DefaultDirectRateLimiter> =
                Arc::new(governor::RateLimiter::direct(Quota::per_second(rate)));
            let me = Arc::new(self);
            while !stop.is_set() {
                match me.round(&limiter).await {
                    Ok(0) => stop.pause(me.settings.tick).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sms dispatch round failed; will retry");
                        stop.pause(me.settings.tick).await;
                    }
                }
            }
        })
    }

    /// Sends one batch of due messages; returns how many were due.
    async fn round(
        self: &Arc<Self>,
        limiter: &Arc<DefaultDirectRateLimiter>,
    ) -> Result<usize, crate::store::StoreError> {
        let now = format_rfc3339(OffsetDateTime::now_utc());
        self.metrics.sms_outbox.set(self.store.sms_queued().await?);
        // Claim only what this replica can send well within the lease at its
        // rate, so that another replica never takes over a message still queued here.
        let lease_until = format_rfc3339(OffsetDateTime::now_utc() + self.settings.lease);
        let fits = (self.settings.messages_per_second as u64 * self.settings.lease.as_secs() / 2).clamp(1, 256);
        let due = self.store.claim_due_sms(&now, &lease_until, fits as u32).await?;
        let n = due.len();
        let results: Vec<Result<Option<SmsSent>, _>> = futures::stream::iter(due)
            .map(|m| {
                let me = self.clone();
                let limiter = limiter.clone();
                async move {
                    limiter.until_ready().await;
                    me.send(m).await
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        // One commit for the whole round: a crash before it only means the
        // SMSC sees these client_refs again, and answers them as duplicates.
        let mut sent = Vec::new();
        for r in results {
            sent.extend(r?);
        }
        if !sent.is_empty() {
            self.store.sms_record_sent(&sent).await?;
        }
        Ok(n)
    }

    /// Submits one message; a success is returned for the round's commit, a
    /// failure is recorded at once.
    async fn send(&self, m: SmsMessageRow) -> Result<Option<SmsSent>, crate::store::StoreError> {
        // A citizen who texted STOP after a notification was queued gets no more
        // notifications (replies, such as the STOP confirmation itself, still go).
        if m.kind == "notification" && self.store.sms_is_opted_out(&m.to_e164).await? {
            let at = format_rfc3339(OffsetDateTime::now_utc());
            if self.store.sms_mark_retry(&m.id, m.attempts, None, "recipient opted out", &at).await? {
                self.metrics.sms_final.with_label_values(&["opted_out"]).inc();
            }
            return Ok(None);
        }
        let submission = Submission {
            client_ref: m.id.clone(),
            from: self.settings.sender.clone(),
            to: m.to_e164.clone(),
            text: m.text.clone(),
            encoding: if m.encoding == "gsm7" { SmsEncoding::Gsm7 } else { SmsEncoding::Ucs2 },
            segments: m.segments as u32,
        };
        let attempts = m.attempts + 1;
        let at = format_rfc3339(OffsetDateTime::now_utc());
        match self.guard.call(|| self.smsc.submit(&submission)).await {
            Ok(ack) => return Ok(Some(SmsSent { id: m.id, smsc_id: ack.smsc_id, at, attempts })),
            Err(e) => {
                let error = match e {
                    crate::resilience::Unavailable::Timeout => "smsc timeout",
                    crate::resilience::Unavailable::Down { .. } => "smsc unavailable",
                };
                let queued_for =
                    time::OffsetDateTime::parse(&m.created_at, &time::format_description::well_known::Rfc3339)
                        .map(|t| OffsetDateTime::now_utc() - t)
                        .unwrap_or(time::Duration::ZERO);
                let next = (queued_for < self.settings.give_up_after).then(|| {
                    format_rfc3339(
                        OffsetDateTime::now_utc()
                            + next_try_after(Duration::from_millis(500), attempts, Duration::from_secs(300)),
                    )
                });
                if self.store.sms_mark_retry(&m.id, attempts, next.as_deref(), error, &at).await? {
                    self.metrics.sms_final.with_label_values(&["failed"]).inc();
                }
            }
        }
        Ok(None)
    }
}
