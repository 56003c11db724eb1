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
    /// The time zone of the centers' working hours, by its IANA name
    /// (`Africa/Cairo`: UTC+2, UTC+3 while daylight saving time is in force).
    pub time_zone: String,
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
        if self.zone().is_none() {
            p.push("signals.time_zone", &self.time_zone, "is not a time zone of the IANA database (e.g. Africa/Cairo)");
        }
    }

    /// The time zone of `time_zone` (from the database bundled with the binary).
    pub fn zone(&self) -> Option<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone).ok()
    }
}
