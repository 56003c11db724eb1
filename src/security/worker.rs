//! The background worker that drives stored security checks to a decision and
//! delivers callbacks. Its whole state is in the store; a restart resumes it.

use super::{CheckView, sign};
use crate::audit::format_rfc3339;
use crate::auth::ClientRegistry;
use crate::resilience::{Guard, next_try_after};
use crate::store::{SecurityCheckRow, Store};
use connectors::security::{CheckType, Decision, SecurityDirectorate, Submission, Ticket};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How often the store is asked for due work.
    pub tick: Duration,
    /// First follow-up delay after a submission; doubles up to `max_poll`.
    pub first_poll: Duration,
    pub max_poll: Duration,
    /// A check still undecided (or unsubmittable) this long after submission fails.
    pub give_up_after: Duration,
    pub callback_max_attempts: i64,
    /// How long a claimed check is this replica's (see `store.lease_seconds`).
    pub lease: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            tick: Duration::from_millis(200),
            first_poll: Duration::from_millis(500),
            max_poll: Duration::from_secs(10),
            give_up_after: Duration::from_secs(3600),
            callback_max_attempts: 10,
            lease: Duration::from_secs(60),
        }
    }
}

pub struct SecurityWorker {
    pub store: Store,
    pub directorate: Arc<SecurityDirectorate>,
    pub guard: Arc<Guard>,
    pub clients: ClientRegistry,
    pub http: reqwest::Client,
    pub settings: WorkerSettings,
}

fn at(after: Duration) -> String {
    format_rfc3339(OffsetDateTime::now_utc() + after)
}

impl SecurityWorker {
    /// Runs a round every tick until `stop`, which ends it after the round
    /// in progress (its decisions and callbacks recorded).
    pub fn spawn(self, mut stop: crate::shutdown::Stop) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let me = Arc::new(self);
            let mut next = tokio::time::Instant::now();
            while !stop.is_set() {
                if let Err(e) = me.round().await {
                    tracing::warn!(error = %e, "security worker round failed; will retry");
                }
                next = (next + me.settings.tick).max(tokio::time::Instant::now());
                stop.pause(next.saturating_duration_since(tokio::time::Instant::now())).await;
            }
        })
    }

    async fn round(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let now = format_rfc3339(OffsetDateTime::now_utc());
        // Claimed with a lease, so that with several replicas each check is
        // driven by one of them at a time.
        let lease_until = at(self.settings.lease);
        let due = self.store.claim_due_security_checks(&now, &lease_until, 64).await?;
        let work = due.into_iter().map(|row| {
            let me = self.clone();
            async move { me.advance(row).await }
        });
        for r in futures::future::join_all(work).await {
            r?;
        }
        let callbacks = self.store.claim_due_callbacks(&now, &lease_until, 64).await?;
        let work = callbacks.into_iter().map(|row| {
            let me = self.clone();
            async move { me.deliver(row).await }
        });
        for r in futures::future::join_all(work).await {
            r?;
        }
        Ok(())
    }

    fn expired(&self, row: &SecurityCheckRow) -> bool {
        time::OffsetDateTime::parse(&row.submitted_at, &time::format_description::well_known::Rfc3339)
            .map(|t| OffsetDateTime::now_utc() - t > self.settings.give_up_after)
            .unwrap_or(false)
    }

    /// One step for one check: submit it, or ask for its decision.
    async fn advance(&self, mut row: SecurityCheckRow) -> Result<(), crate::store::StoreError> {
        let outcome = match &row.ticket {
            None => {
                let check_type = match row.check_type.as_str() {
                    "shop_license" => CheckType::ShopLicense,
                    "employment" => CheckType::Employment,
                    _ => CheckType::General,
                };
                let submission =
                    Submission { reference: row.id.clone(), national_id: row.national_id.clone(), check_type };
                match self.guard.call(|| self.directorate.submit(&submission)).await {
                    Ok(ticket) => {
                        row.ticket = Some(ticket.0);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            Some(ticket) => {
                let ticket = Ticket(ticket.clone());
                self.guard.call(|| self.directorate.status(&ticket)).await.map(Some)
            }
        };
        match outcome {
            Ok(Some(Decision::Cleared)) => self.decide(&mut row, "cleared"),
            Ok(Some(Decision::NotCleared)) => self.decide(&mut row, "not_cleared"),
            Ok(None) => {
                row.attempts = 0;
                row.next_poll_at = at(self.settings.first_poll);
            }
            Ok(Some(Decision::Pending)) | Err(_) => {
                if self.expired(&row) {
                    tracing::warn!("security check gave up: no decision in time");
                    self.decide(&mut row, "failed");
                } else {
                    row.attempts += 1;
                    row.next_poll_at =
                        at(next_try_after(self.settings.first_poll, row.attempts, self.settings.max_poll));
                }
            }
        }
        self.store.update_security_check(&row).await
    }

    fn decide(&self, row: &mut SecurityCheckRow, status: &str) {
        row.status = status.to_owned();
        row.decided_at = Some(format_rfc3339(OffsetDateTime::now_utc()));
        if row.callback_url.is_some() {
            row.callback_state = Some("pending".into());
            row.next_callback_at = Some(at(Duration::ZERO));
        }
    }

    /// POSTs the check's view to the client's callback URL, signed; retried
    /// with backoff until a 2xx or the attempt limit.
    async fn deliver(&self, mut row: SecurityCheckRow) -> Result<(), crate::store::StoreError> {
        let client = self.clients.get(&row.client_id);
        let (Some(url), Some(secret)) =
            (row.callback_url.clone(), client.as_ref().and_then(|c| c.callback_secret.clone()))
        else {
            row.callback_state = Some("failed".into());
            return self.store.update_security_check(&row).await;
        };
        let body = serde_json::to_vec(&CheckView::from(&row)).unwrap_or_default();
        let t = crate::auth::unix_now();
        let sent = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Bawaba-Signature", sign(&secret, t, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => row.callback_state = Some("delivered".into()),
            other => {
                let why = match other {
                    Ok(r) => format!("HTTP {}", r.status().as_u16()),
                    Err(e) => connectors::UpstreamError::from_reqwest(&e).to_string(),
                };
                row.callback_attempts += 1;
                if row.callback_attempts >= self.settings.callback_max_attempts {
                    tracing::warn!(reason = %why, "callback abandoned");
                    row.callback_state = Some("failed".into());
                } else {
                    tracing::info!(reason = %why, attempt = row.callback_attempts, "callback failed; will retry");
                    row.next_callback_at = Some(at(next_try_after(
                        Duration::from_millis(500),
                        row.callback_attempts,
                        Duration::from_secs(300),
                    )));
                }
            }
        }
        self.store.update_security_check(&row).await
    }
}
