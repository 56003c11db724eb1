//! `[citizens]`: citizens asking 5960 who looked at their data (CONTRACT §12).

use super::Problems;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CitizensSettings {
    /// History replies one number may get per hour; further requests within
    /// the hour get the "try later" reply.
    pub history_per_hour: u32,
    /// Registry look-ups of the mobile registered to one ID per hour, whoever
    /// asks (a flood from many numbers for one ID); beyond it, "try later".
    pub lookups_per_id_per_hour: u32,
    /// How far back a history reply goes.
    pub history_days: u32,
    /// At most one access alert (`NOTIFY`) per ID this often; calls within it
    /// are summarised in the next alert.
    pub notify_interval_seconds: u64,
}

impl CitizensSettings {
    pub(super) fn validate(&self, p: &mut Problems) {
        for (key, value) in [
            ("citizens.history_per_hour", self.history_per_hour),
            ("citizens.lookups_per_id_per_hour", self.lookups_per_id_per_hour),
        ] {
            if value == 0 {
                p.push(key, "0", "must be at least 1");
            }
        }
        if !(1..=3650).contains(&self.history_days) {
            p.push("citizens.history_days", &self.history_days.to_string(), "must be 1 to 3650");
        }
        if self.notify_interval_seconds == 0 {
            p.push("citizens.notify_interval_seconds", "0", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Settings;

    #[test]
    fn the_defaults_are_those_of_contract_section_12() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.citizens.history_per_hour, 1);
        assert_eq!(s.citizens.history_days, 180);
    }

    #[test]
    fn zero_values_are_refused_by_name() {
        let env = [("BAWABA__CITIZENS__HISTORY_PER_HOUR".to_owned(), "0".to_owned())];
        let problems = Settings::load_from(None, &env).unwrap_err();
        assert_eq!(problems.0[0].key, "citizens.history_per_hour");
    }
}
