//! `[verify]`: the claim-guessing stop (CONTRACT §13).

use super::Problems;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VerifySettings {
    /// Once one client has sent this many different values of one claim about
    /// one subject, each a mismatch, within the window, its further
    /// verifications of that subject carrying that claim are refused (429
    /// `too_many_mismatches`) until the window has passed.
    pub max_mismatches: u32,
    pub mismatch_window_minutes: u64,
}

impl VerifySettings {
    pub fn window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.mismatch_window_minutes * 60)
    }

    pub(super) fn validate(&self, p: &mut Problems) {
        if !(2..=1000).contains(&self.max_mismatches) {
            p.push(
                "verify.max_mismatches",
                &self.max_mismatches.to_string(),
                "must be 2 to 1000 (a typo corrected once is not guessing)",
            );
        }
        if !(1..=7 * 24 * 60).contains(&self.mismatch_window_minutes) {
            p.push(
                "verify.mismatch_window_minutes",
                &self.mismatch_window_minutes.to_string(),
                "must be 1 to 10080 (a week)",
            );
        }
    }
}
