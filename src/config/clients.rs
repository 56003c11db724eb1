//! The clients file: who may ask for tokens, with which scopes, purposes,
//! center and rate.

use super::Problems;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// An argon2 PHC string; empty for a client of an external issuer.
    #[serde(default)]
    pub secret_hash: String,
    /// The `[[auth.issuers]]` issuer whose tokens name this client: it has
    /// no secret and gets no token from `/oauth/token`.
    pub issuer: Option<String>,
    pub scopes: Vec<String>,
    /// Purpose names, or `*` for every configured purpose.
    #[serde(default)]
    pub purposes: Vec<String>,
    pub center_id: Option<String>,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// URL prefixes a security-check callback may start with.
    #[serde(default)]
    pub callback_prefixes: Vec<String>,
    /// HMAC key for signing callbacks to this client.
    pub callback_secret: Option<String>,
    /// Its calls are recorded in the audit log but never shown to citizens
    /// asking 5960 for their history (CONTRACT §12).
    #[serde(default)]
    pub hidden_from_citizens: bool,
    /// The center's working hours, `HH:MM-HH:MM` local time (in
    /// `signals.time_zone`; past midnight when the end is earlier), on
    /// `working_days`: calls outside them are `off_hours` signals. None: no
    /// such signal for this client.
    #[serde(default)]
    pub working_hours: Option<String>,
    /// The days `working_hours` begin on: `sun` … `sat`. None: Sunday to
    /// Thursday, Egypt's working week.
    #[serde(default)]
    pub working_days: Option<Vec<String>>,
}

/// `working_days` when none are given: Sunday to Thursday, Sunday first.
pub const EGYPT_WORKING_WEEK: [bool; 7] = [true, true, true, true, true, false, false];

/// Day names of `working_days`, Sunday first.
pub const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `working_days` as a set, Sunday first; None if a name is not a day or none is given.
pub fn parse_working_days(days: Option<&[String]>) -> Option<[bool; 7]> {
    let Some(days) = days else { return Some(EGYPT_WORKING_WEEK) };
    let mut set = [false; 7];
    for d in days {
        set[DAY_NAMES.iter().position(|n| n.eq_ignore_ascii_case(d.trim()))?] = true;
    }
    set.contains(&true).then_some(set)
}

/// Minutes after local midnight: the start and end of working hours.
pub fn parse_working_hours(s: &str) -> Option<(u32, u32)> {
    let minutes = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && t.trim().len() == 5).then_some(h * 60 + m)
    };
    let (start, end) = s.split_once('-')?;
    let (start, end) = (minutes(start)?, minutes(end)?);
    (start != end).then_some((start, end))
}

impl std::fmt::Debug for ClientConfig {
    // Secrets never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("purposes", &self.purposes)
            .field("center_id", &self.center_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ClientsFile {
    pub fn parse(text: &str, origin: &str) -> Result<ClientsFile, Problems> {
        Self::parse_for(text, origin, None)
    }

    /// Also checks that each client's `issuer` is one of `issuers`.
    pub fn parse_for(
        text: &str,
        origin: &str,
        issuers: Option<&[super::IssuerSettings]>,
    ) -> Result<ClientsFile, Problems> {
        let mut problems = Problems::default();
        let file: ClientsFile = super::parse_file(text, origin)?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in file.clients.iter().enumerate() {
            let key = |k: &str| format!("{origin}: clients[{i}].{k}");
            if c.client_id.is_empty() || !seen.insert(c.client_id.clone()) {
                problems.push(&key("client_id"), &c.client_id, "must be non-empty and unique");
            }
            if let (Some(issuer), Some(issuers)) = (&c.issuer, issuers)
                && !issuers.iter().any(|s| &s.issuer == issuer)
            {
                problems.push_fix(
                    &key("issuer"),
                    issuer,
                    "no [[auth.issuers]] entry has this issuer",
                    "configure the issuer, or correct the name",
                );
            }
            if c.issuer.is_some() {
                if !c.secret_hash.is_empty() {
                    problems.push(
                        &key("secret_hash"),
                        "(hidden)",
                        "a client of an external issuer has no secret; remove secret_hash or issuer",
                    );
                }
            } else if argon2::password_hash::phc::PasswordHash::new(&c.secret_hash).is_err() {
                problems.push(
                    &key("secret_hash"),
                    "(hidden)",
                    "is not an argon2 hash; make one with `bawaba clients hash-secret`",
                );
            }
            for s in &c.scopes {
                if !crate::auth::Scope::ALL.iter().any(|k| k.as_str() == s) {
                    problems.push(&key("scopes"), s, "unknown scope");
                }
            }
            if c.rate_per_second == 0 || c.rate_burst == 0 {
                problems.push(&key("rate_per_second"), "0", "rates must be at least 1");
            }
            if let Some(hours) = &c.working_hours
                && parse_working_hours(hours).is_none()
            {
                problems.push(&key("working_hours"), hours, "must be HH:MM-HH:MM (e.g. 08:00-15:00)");
            }
            if let Some(days) = &c.working_days
                && parse_working_days(Some(days)).is_none()
            {
                problems.push(
                    &key("working_days"),
                    &days.join(","),
                    "must list one or more of sun, mon, tue, wed, thu, fri, sat",
                );
            }
            if c.callback_prefixes.iter().any(|p| reqwest::Url::parse(p).is_err() && !p.ends_with(':')) {
                problems.push(&key("callback_prefixes"), "", "each prefix must start like a URL (scheme://host…)");
            }
        }
        problems.into_result().map(|()| file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_default_to_egypts_week_and_are_checked() {
        assert_eq!(parse_working_days(None), Some([true, true, true, true, true, false, false]));
        let days = |d: &[&str]| parse_working_days(Some(&d.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
        assert_eq!(days(&["sat", "Sun"]), Some([true, false, false, false, false, false, true]));
        assert_eq!(days(&["friday"]), None);
        assert_eq!(days(&[]), None);
    }

    #[test]
    fn the_clients_file_reports_bad_working_days_with_their_key() {
        let text = include_str!("../../config/clients.toml");
        assert!(ClientsFile::parse_for(text, "clients.toml", None).is_ok());
        let bad =
            text.replacen(r#"working_days = ["sun", "mon", "tue", "wed", "thu"]"#, r#"working_days = ["friday"]"#, 1);
        assert_ne!(bad, text);
        let problems = format!("{:?}", ClientsFile::parse_for(&bad, "clients.toml", None).unwrap_err());
        assert!(problems.contains("clients[0].working_days") && problems.contains("friday"), "{problems}");
    }

    #[test]
    fn working_hours_are_two_times_of_day() {
        assert_eq!(parse_working_hours("08:00-15:00"), Some((480, 900)));
        assert_eq!(parse_working_hours("22:00-06:00"), Some((1320, 360)));
        assert_eq!(parse_working_hours("8:00-15:00"), None);
        assert_eq!(parse_working_hours("08:00-08:00"), None);
        assert_eq!(parse_working_hours("24:00-08:00"), None);
    }
}
