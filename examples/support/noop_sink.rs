//! The benchmarks' baseline audit sink: takes every event and keeps nothing.
//! It exists only in benchmark code, never as a setting of the product.

use bawaba::audit::{Action, AuditEvent, AuditSink, CacheUse, NewEvent};
use bawaba::store::StoreError;
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicI64, Ordering};

/// The baseline: takes every event and keeps nothing.
pub struct NoopSink {
    pub seq: AtomicI64,
}

impl AuditSink for NoopSink {
    fn append(&self, e: NewEvent) -> BoxFuture<'_, Result<AuditEvent, StoreError>> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        Box::pin(async move {
            Ok(AuditEvent {
                id: e.id,
                seq,
                at: e.at,
                client_id: e.client_id,
                center_id: e.center_id,
                operator_id: e.operator_id,
                action: e.action.unwrap_or(Action::AuthDenied),
                subject: e.subject,
                purpose: e.purpose,
                case_ref: e.case_ref,
                outcome: e.outcome,
                http_status: e.http_status,
                cache: e.cache.unwrap_or(CacheUse::None),
                duration_ms: e.duration_ms,
                prev_hash: String::new(),
                hash: String::new(),
            })
        })
    }
}
