//! How far the chain's head is ahead of its last signed checkpoint, for
//! `/metrics`: the events not covered by a signature yet and the age of the
//! oldest of them. The writer signs a checkpoint every `audit.checkpoint_every`
//! events and the ticker at least every `audit.checkpoint_interval_seconds`,
//! so the age stays under about one interval; an age that keeps growing means
//! checkpoints are not being signed (a failing key file, a store refusing the
//! checkpoint's write), the alert `BawabaCheckpointOverdue`.
//!
//! Read from the store (the head row, and the first unsigned event when the
//! checkpoint moved), so with several replicas on one PostgreSQL every replica
//! reports the shared chain's lag.

use crate::metrics::Metrics;
use crate::store::{ChainHead, Store};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How often the lag is read.
pub const EVERY: Duration = Duration::from_secs(1);

/// The first unsigned event as last read: after which checkpoint, and when it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Oldest {
    after_checkpoint: i64,
    at: OffsetDateTime,
}

/// Events past the checkpoint, and the age in whole seconds of the oldest of
/// them (`oldest`'s, when it belongs to this head's checkpoint) at `now`.
fn lag(head: Option<&ChainHead>, oldest: Option<Oldest>, now: OffsetDateTime) -> (i64, i64) {
    let Some(head) = head.filter(|h| h.seq > h.checkpoint_seq) else { return (0, 0) };
    let age =
        oldest.filter(|o| o.after_checkpoint == head.checkpoint_seq).map_or(0, |o| (now - o.at).whole_seconds().max(0));
    (head.seq - head.checkpoint_seq, age)
}

/// Updates the lag gauges every [`EVERY`] until aborted.
pub async fn watch(store: Store, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut oldest: Option<Oldest> = None;
    let mut head: Option<ChainHead> = None;
    loop {
        tick.tick().await;
        match store.recorded_head().await {
            Ok(h) => head = h,
            // The store is down (its own alert): the age keeps growing from
            // what was read last.
            Err(e) => tracing::debug!(error = %e, "audit signing lag not read"),
        }
        if let Some(h) = head.as_ref().filter(|h| h.seq > h.checkpoint_seq)
            && oldest.is_none_or(|o| o.after_checkpoint != h.checkpoint_seq)
        {
            match store.events_after(h.checkpoint_seq, 1).await {
                Ok(events) => {
                    oldest = events
                        .first()
                        .and_then(|e| OffsetDateTime::parse(&e.at, &Rfc3339).ok())
                        .map(|at| Oldest { after_checkpoint: h.checkpoint_seq, at });
                }
                Err(e) => tracing::debug!(error = %e, "audit signing lag not read"),
            }
        }
        let (events, age) = lag(head.as_ref(), oldest, OffsetDateTime::now_utc());
        metrics.audit_unsigned_events.set(events);
        metrics.audit_unsigned_age.set(age);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: i64, checkpoint_seq: i64) -> ChainHead {
        ChainHead { seq, hash: "h".into(), checkpoint_seq }
    }

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    #[test]
    fn an_empty_or_fully_signed_chain_has_no_lag() {
        let now = at("2026-12-01T10:00:00Z");
        assert_eq!(lag(None, None, now), (0, 0));
        let old = Some(Oldest { after_checkpoint: 5, at: at("2026-12-01T09:00:00Z") });
        assert_eq!(lag(Some(&head(5, 5)), old, now), (0, 0));
    }

    #[test]
    fn the_age_is_that_of_the_first_event_after_the_checkpoint() {
        let now = at("2026-12-01T10:00:00Z");
        let first = Some(Oldest { after_checkpoint: 5, at: at("2026-12-01T09:58:30.5Z") });
        assert_eq!(lag(Some(&head(9, 5)), first, now), (4, 89));
    }

    #[test]
    fn a_first_event_read_for_an_older_checkpoint_does_not_count() {
        let now = at("2026-12-01T10:00:00Z");
        let stale = Some(Oldest { after_checkpoint: 2, at: at("2026-12-01T09:00:00Z") });
        assert_eq!(lag(Some(&head(9, 5)), stale, now), (4, 0));
    }

    #[test]
    fn a_clock_behind_the_event_gives_age_zero_not_negative() {
        let now = at("2026-12-01T10:00:00Z");
        let ahead = Some(Oldest { after_checkpoint: 0, at: at("2026-12-01T10:00:05Z") });
        assert_eq!(lag(Some(&head(1, 0)), ahead, now), (1, 0));
    }
}
