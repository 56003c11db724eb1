//! Rate limits: per client on `/v1` (configured per client), per source
//! address on `/oauth/token` and `/receipts/verify`, and a quota on recording
//! `auth.denied` events.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;

pub struct RateLimits {
    pub token_per_address: DefaultKeyedRateLimiter<IpAddr>,
    pub denied_audit_per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// `POST /receipts/verify` takes no token: anyone may check a receipt.
    pub receipt_verify_per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    pub fn new(token_per_second: u32, token_burst: u32, denied_per_minute: u32, receipts: (u32, u32)) -> Self {
        let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        RateLimits {
            token_per_address: governor::RateLimiter::keyed(
                Quota::per_second(nz(token_per_second)).allow_burst(nz(token_burst)),
            ),
            denied_audit_per_address: governor::RateLimiter::keyed(Quota::per_minute(nz(denied_per_minute))),
            receipt_verify_per_address: governor::RateLimiter::keyed(
                Quota::per_second(nz(receipts.0)).allow_burst(nz(receipts.1)),
            ),
        }
    }
}

/// Seconds until a refused request may be retried (at least 1), for `Retry-After`.
pub fn retry_after_secs(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
