//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical bytes of the event)`.
//!
//! The canonical bytes are the event's fields (all but `prev_hash` and `hash`)
//! as compact JSON in the contract's field order, so anyone can recompute them
//! from an export.

use super::AuditEvent;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Serialize)]
struct Canonical<'a> {
    id: &'a str,
    seq: i64,
    at: &'a str,
    client_id: &'a Option<String>,
    center_id: &'a Option<String>,
    operator_id: &'a Option<String>,
    action: &'a str,
    subject: &'a Option<String>,
    purpose: &'a Option<String>,
    case_ref: &'a Option<String>,
    outcome: &'a str,
    http_status: u16,
    cache: &'a str,
    duration_ms: u64,
}

/// The hash of `event` given its `prev_hash` (the event's own `hash` is ignored).
pub fn event_hash(event: &AuditEvent) -> String {
    let canonical = Canonical {
        id: &event.id,
        seq: event.seq,
        at: &event.at,
        client_id: &event.client_id,
        center_id: &event.center_id,
        operator_id: &event.operator_id,
        action: event.action.as_str(),
        subject: &event.subject,
        purpose: &event.purpose,
        case_ref: &event.case_ref,
        outcome: &event.outcome,
        http_status: event.http_status,
        cache: event.cache.as_str(),
        duration_ms: event.duration_ms,
    };
    let bytes = serde_json::to_vec(&canonical).expect("plain struct serialises");
    let mut hasher = Sha256::new();
    hasher.update(event.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    hex::encode(hasher.finalize())
}

/// The outcome of re-computing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub first_bad_seq: Option<i64>,
}

/// Incremental verification over events in chain order.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: Option<i64>,
    pub report: VerifyReport,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            expected_prev: GENESIS_HASH.to_owned(),
            expected_seq: None,
            report: VerifyReport { ok: true, checked: 0, head_seq: None, head_hash: None, first_bad_seq: None },
        }
    }
}

impl ChainVerifier {
    /// Feeds the next event; returns false once the chain is broken.
    pub fn feed(&mut self, e: &AuditEvent) -> bool {
        if !self.report.ok {
            return false;
        }
        let seq_ok = self.expected_seq.is_none_or(|s| e.seq == s);
        let first_ok = self.expected_seq.is_some() || e.seq == 1 || e.prev_hash == self.expected_prev;
        if !seq_ok || !first_ok || e.prev_hash != self.expected_prev || event_hash(e) != e.hash {
            self.report.ok = false;
            // A missing row shows up at the sequence number where it was expected.
            self.report.first_bad_seq = Some(match self.expected_seq {
                Some(s) if e.seq > s => s,
                _ => e.seq,
            });
            return false;
        }
        self.report.checked += 1;
        self.report.head_seq = Some(e.seq);
        self.report.head_hash = Some(e.hash.clone());
        self.expected_prev = e.hash.clone();
        self.expected_seq = Some(e.seq + 1);
        true
    }
}

/// Re-computes the whole chain from the store, page by page.
pub async fn verify_chain(store: &crate::store::Store) -> Result<VerifyReport, crate::store::StoreError> {
    let mut v = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.events_after(after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if !v.feed(e) {
                return Ok(v.report);
            }
        }
    }
    Ok(v.report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, CacheUse};

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEvent {
                    id: format!("id-{seq}"),
                    seq,
                    at: "2026-11-22T10:00:00.000000Z".into(),
                    client_id: Some("center-demo".into()),
                    center_id: None,
                    operator_id: None,
                    action: Action::NationalIdVerify,
                    subject: None,
                    purpose: None,
                    case_ref: None,
                    outcome: "match".into(),
                    http_status: 200,
                    cache: CacheUse::Hit,
                    duration_ms: 1,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = event_hash(&e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> VerifyReport {
        let mut v = ChainVerifier::default();
        for e in events {
            if !v.feed(e) {
                break;
            }
        }
        v.report
    }

    #[test]
    fn an_intact_chain_verifies() {
        let r = verify(&chain(5));
        assert!(r.ok);
        assert_eq!(r.checked, 5);
        assert_eq!(r.head_seq, Some(5));
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut c = chain(5);
        c[2].outcome = "mismatch".into();
        assert_eq!(verify(&c).first_bad_seq, Some(3));
    }

    #[test]
    fn a_deleted_event_is_named_by_the_missing_sequence_number() {
        let mut c = chain(5);
        c.remove(3);
        assert_eq!(verify(&c).first_bad_seq, Some(4));
    }

    #[test]
    fn swapped_events_are_caught() {
        let mut c = chain(5);
        c.swap(1, 2);
        assert_eq!(verify(&c).first_bad_seq, Some(2));
    }

    #[test]
    fn the_hash_is_lowercase_hex_of_sha256() {
        let c = chain(1);
        assert_eq!(c[0].hash.len(), 64);
        assert!(c[0].hash.chars().all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)));
    }
}
