//! `[signals]`: the thresholds of `/v1/audit/signals` (CONTRACT §13). A
//! signal is a lead for an inspector to review, never a verdict.

use super::Problems;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SignalsSettings {
    /// `claim_guessing`: this many mismatches (or stopped calls) by one
    /// operator of one client about one subject.
    pub claim_guessing_min_mismatches: i64,
    /// `no_case_ref`: this many data calls without a case reference by one operator.
    pub no_case_ref_min_calls: i64,
    /// `off_hours`: this many data calls outside the center's working hours
    /// (`working_hours` in the clients file) by one operator.
    pub off_hours_min_calls: i64,
    /// The offset from UTC of the centers' working hours, in minutes (Egypt:
    /// 120; 180 while daylight saving time is in force).
    pub working_hours_utc_offset_minutes: i32,
    /// `many_subjects`: an operator who looked up at least this many times
    /// the median number of citizens of their center's operators…
    pub many_subjects_factor: f64,
    /// …and at least this many citizens.
    pub many_subjects_min: i64,
    /// `many_centers`: one citizen looked up by at least this many centers.
    pub many_centers_min: i64,
}

impl SignalsSettings {
    pub(super) fn validate(&self, p: &mut Problems) {
        for (key, value) in [
            ("signals.claim_guessing_min_mismatches", self.claim_guessing_min_mismatches),
            ("signals.no_case_ref_min_calls", self.no_case_ref_min_calls),
            ("signals.off_hours_min_calls", self.off_hours_min_calls),
            ("signals.many_subjects_min", self.many_subjects_min),
            ("signals.many_centers_min", self.many_centers_min),
        ] {
            if value < 1 {
                p.push(key, &value.to_string(), "must be at least 1");
            }
        }
        if !(self.many_subjects_factor >= 1.0 && self.many_subjects_factor <= 1000.0) {
            p.push("signals.many_subjects_factor", &self.many_subjects_factor.to_string(), "must be 1 to 1000");
        }
        if !(-720..=840).contains(&self.working_hours_utc_offset_minutes) {
            p.push(
                "signals.working_hours_utc_offset_minutes",
                &self.working_hours_utc_offset_minutes.to_string(),
                "must be -720 to 840",
            );
        }
    }
}
