//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical bytes of the event)`.
//!
//! The canonical bytes are the event's fields (all but `prev_hash` and `hash`)
//! as compact JSON in the contract's field order, so anyone can recompute them
//! from an export.

use super::AuditEvent;
use super::checkpoint::{Checkpoint, TrustedKeys};
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

/// Places new events after `head`: sequence numbers, `prev_hash` and `hash`.
pub fn seal(head: &crate::store::ChainHead, events: &[super::NewEvent]) -> Vec<AuditEvent> {
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    events
        .iter()
        .map(|e| {
            seq += 1;
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
                cache: e.cache.unwrap_or(super::CacheUse::None),
                duration_ms: e.duration_ms,
                prev_hash: std::mem::take(&mut prev),
                hash: String::new(),
            };
            event.hash = event_hash(&event);
            prev = event.hash.clone();
            event
        })
        .collect()
}

/// The outcome of re-computing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub first_bad_seq: Option<i64>,
    /// The last sequence number covered by a valid signed checkpoint.
    pub signed_through_seq: Option<i64>,
    /// Why verification failed, in a sentence (None when intact).
    pub reason: Option<String>,
}

/// Incremental verification over events in chain order, against the signed
/// checkpoints: events are fed in sequence order, then [`ChainVerifier::finish`].
#[derive(Debug)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: Option<i64>,
    /// Checkpoints not yet reached, by sequence number (only valid ones).
    checkpoints: std::collections::BTreeMap<i64, Checkpoint>,
    /// The first checkpoint problem (bad signature, broken link), by the
    /// first sequence number it leaves unproven.
    checkpoint_problem: Option<(i64, String)>,
    last_checkpoint: i64,
    pub report: VerifyReport,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new(Vec::new(), &TrustedKeys::default())
    }
}

impl ChainVerifier {
    /// A verifier for a log (or an archive) whose checkpoints are `checkpoints`
    /// (any order), trusting `trusted` keys.
    pub fn new(mut checkpoints: Vec<Checkpoint>, trusted: &TrustedKeys) -> ChainVerifier {
        checkpoints.sort_by_key(|c| c.seq);
        let mut valid = std::collections::BTreeMap::new();
        let mut problem = None;
        let mut prev_seq = None;
        for c in checkpoints {
            // The first checkpoint held may follow archived ones: its link is
            // checked against what precedes it only when that is present.
            let linked = prev_seq.is_none_or(|p| c.prev_seq == p);
            if !trusted.verify(&c) {
                problem = Some((
                    prev_seq.unwrap_or(c.prev_seq) + 1,
                    format!("checkpoint at {} has an invalid signature", c.seq),
                ));
                break;
            }
            if !linked {
                problem = Some((
                    prev_seq.unwrap_or(0) + 1,
                    format!("checkpoint at {} does not follow checkpoint at {}", c.seq, c.prev_seq),
                ));
                break;
            }
            prev_seq = Some(c.seq);
            valid.insert(c.seq, c);
        }
        ChainVerifier {
            expected_prev: GENESIS_HASH.to_owned(),
            expected_seq: None,
            checkpoints: valid,
            checkpoint_problem: problem,
            last_checkpoint: 0,
            report: VerifyReport {
                ok: true,
                checked: 0,
                head_seq: None,
                head_hash: None,
                first_bad_seq: None,
                signed_through_seq: None,
                reason: None,
            },
        }
    }

    /// Starts after an anchor (seq, hash): the last event of an archive.
    pub fn starting_after(mut self, seq: i64, hash: &str) -> ChainVerifier {
        self.expected_seq = Some(seq + 1);
        self.expected_prev = hash.to_owned();
        self.last_checkpoint = seq;
        self
    }

    fn fail(&mut self, seq: i64, reason: String) -> bool {
        self.report.ok = false;
        self.report.first_bad_seq = Some(seq);
        self.report.reason = Some(reason);
        false
    }

    /// Feeds the next event; returns false once the log is found broken.
    pub fn feed(&mut self, e: &AuditEvent) -> bool {
        if !self.report.ok {
            return false;
        }
        if self.expected_seq.is_none() && e.seq > 1 {
            // The live log begins after archived events: it must begin right
            // after a signed checkpoint, whose hash its first event continues.
            match self.checkpoints.get(&(e.seq - 1)) {
                Some(c) if c.hash == e.prev_hash => {
                    self.expected_prev = c.hash.clone();
                    self.last_checkpoint = c.seq;
                    self.report.signed_through_seq = Some(c.seq);
                }
                _ => {
                    return self
                        .fail(e.seq, format!("the log begins at {} without a signed checkpoint before it", e.seq));
                }
            }
            self.expected_seq = Some(e.seq);
        }
        let expected = self.expected_seq.unwrap_or(1);
        if e.seq != expected {
            // A missing row shows up at the sequence number where it was expected.
            let at = if e.seq > expected { expected } else { e.seq };
            return self.fail(at, format!("expected event {expected}, found {}", e.seq));
        }
        if e.prev_hash != self.expected_prev || event_hash(e) != e.hash {
            return self.fail(e.seq, format!("event {} does not match its hash", e.seq));
        }
        if let Some(c) = self.checkpoints.get(&e.seq) {
            if c.hash != e.hash {
                let from = self.last_checkpoint + 1;
                return self
                    .fail(from, format!("events {from}..={} do not match the signed checkpoint at {}", e.seq, e.seq));
            }
            self.last_checkpoint = e.seq;
            self.report.signed_through_seq = Some(e.seq);
        }
        if let Some((from, reason)) = &self.checkpoint_problem
            && e.seq >= *from
        {
            let (from, reason) = (*from, reason.clone());
            return self.fail(from, reason);
        }
        self.report.checked += 1;
        self.report.head_seq = Some(e.seq);
        self.report.head_hash = Some(e.hash.clone());
        self.expected_prev = e.hash.clone();
        self.expected_seq = Some(e.seq + 1);
        true
    }

    /// Ends the stream: a checkpoint beyond the last event, or a recorded head
    /// beyond it, means events were removed from the end.
    pub fn finish(mut self, recorded_head: Option<i64>) -> VerifyReport {
        if !self.report.ok {
            return self.report;
        }
        let last = self.report.head_seq.unwrap_or(self.last_checkpoint);
        if let Some((&seq, _)) = self.checkpoints.range(last + 1..).next() {
            self.fail(last + 1, format!("a signed checkpoint names event {seq}, beyond the last event {last}"));
        } else if let Some(head) = recorded_head.filter(|h| *h > last) {
            self.fail(last + 1, format!("the chain head is {head}, beyond the last event {last}"));
        } else if let Some((from, reason)) = self.checkpoint_problem.take() {
            self.fail(from, reason);
        }
        self.report
    }
}

/// Re-computes the whole live chain from the store, page by page, against
/// its signed checkpoints.
pub async fn verify_chain(
    store: &crate::store::Store,
    trusted: &TrustedKeys,
) -> Result<VerifyReport, crate::store::StoreError> {
    let checkpoints = store.checkpoints().await?;
    let head = store.recorded_head().await?;
    let mut v = ChainVerifier::new(checkpoints, trusted);
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
    Ok(v.finish(head.map(|h| h.seq)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::CheckpointKey;
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
                return v.report;
            }
        }
        v.finish(None)
    }

    fn signed(events: &[AuditEvent], key: &CheckpointKey, every: usize) -> Vec<Checkpoint> {
        let mut prev = 0;
        events
            .iter()
            .filter(|e| (e.seq as usize).is_multiple_of(every))
            .map(|e| {
                let c = key.checkpoint(e.seq, &e.hash, &e.at, prev);
                prev = e.seq;
                c
            })
            .collect()
    }

    fn verify_signed(events: &[AuditEvent], checkpoints: Vec<Checkpoint>, key: &CheckpointKey) -> VerifyReport {
        let mut trusted = TrustedKeys::default();
        trusted.add(key.public());
        let mut v = ChainVerifier::new(checkpoints, &trusted);
        for e in events {
            if !v.feed(e) {
                return v.report;
            }
        }
        v.finish(events.last().map(|e| e.seq))
    }

    /// Rehashes every event from index `from` on, as someone with write access could.
    fn rewrite_from(events: &mut [AuditEvent], from: usize) {
        for i in from..events.len() {
            if i > 0 {
                events[i].prev_hash = events[i - 1].hash.clone();
            }
            events[i].hash = event_hash(&events[i]);
        }
    }

    #[test]
    fn a_wholesale_rewrite_is_caught_by_the_checkpoints() {
        let key = CheckpointKey::generate().unwrap();
        let mut c = chain(30);
        let cps = signed(&c, &key, 10);
        assert!(verify_signed(&c, cps.clone(), &key).ok);
        c[14].outcome = "mismatch".into();
        rewrite_from(&mut c, 14);
        assert!(verify(&c).ok, "the chain alone cannot see it");
        let r = verify_signed(&c, cps, &key);
        assert!(!r.ok);
        assert_eq!(r.first_bad_seq, Some(11));
        assert_eq!(r.signed_through_seq, Some(10));
    }

    #[test]
    fn a_forged_or_removed_checkpoint_is_caught() {
        let key = CheckpointKey::generate().unwrap();
        let c = chain(30);
        let mut cps = signed(&c, &key, 10);
        cps[1].hash = "00".repeat(32);
        assert_eq!(verify_signed(&c, cps, &key).first_bad_seq, Some(11));
        let mut cps = signed(&c, &key, 10);
        cps.remove(1);
        assert_eq!(verify_signed(&c, cps, &key).first_bad_seq, Some(11));
        let other = CheckpointKey::generate().unwrap();
        assert!(!verify_signed(&c, signed(&c, &other, 10), &key).ok);
    }

    #[test]
    fn a_truncated_tail_is_caught() {
        let key = CheckpointKey::generate().unwrap();
        let c = chain(30);
        let cps = signed(&c, &key, 10);
        let r = verify_signed(&c[..25], cps, &key);
        assert_eq!(r.first_bad_seq, Some(26));
    }

    #[test]
    fn a_log_may_begin_after_an_archived_checkpoint() {
        let key = CheckpointKey::generate().unwrap();
        let c = chain(30);
        let cps = signed(&c, &key, 10);
        assert!(verify_signed(&c[10..], cps.clone(), &key).ok);
        assert_eq!(verify_signed(&c[11..], cps, &key).first_bad_seq, Some(12));
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
