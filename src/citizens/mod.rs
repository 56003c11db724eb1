//! Citizens ask 5960 who looked at their data (CONTRACT §12): `سجل <id>` /
//! `HISTORY <id>` for the accesses of the last days ([`history`]), `تنبيه
//! <id>` / `NOTIFY <id>` for an SMS after each later access ([`notify`]).
//! Both answer only the number the national-ID registry has registered to the
//! ID; every other case gets the reply an unknown request number gets.
//!
//! The registered number is asked of the registry each time, through its
//! guard, never cached with the citizen's record and never logged.

pub mod history;
pub mod notify;
pub mod reply;
pub mod texts;

use crate::config::{CitizensSettings, ClientsFile};
use crate::domain::national_id::NationalId;
use crate::domain::phone::PhoneNumber;
use crate::http::state::AppState;
use connectors::Lookup;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashSet;
use std::num::NonZeroU32;

/// The `client_id` of citizens' requests in the audit log.
pub const CLIENT_ID: &str = "sms-5960";

/// What the citizens' requests share: settings, hourly limits, hidden clients.
pub struct Citizens {
    pub settings: CitizensSettings,
    /// Clients whose calls are recorded but never shown to citizens.
    hidden: HashSet<String>,
    history_per_number: DefaultKeyedRateLimiter<String>,
    notify_per_number: DefaultKeyedRateLimiter<String>,
    lookups_per_id: DefaultKeyedRateLimiter<String>,
    /// Wakes the access-alert task ([`notify::spawn`]).
    wake: tokio::sync::Notify,
}

impl Citizens {
    pub fn new(settings: &CitizensSettings, clients: &ClientsFile) -> Citizens {
        let per_hour = |n: u32| Quota::per_hour(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Citizens {
            settings: settings.clone(),
            hidden: clients.clients.iter().filter(|c| c.hidden_from_citizens).map(|c| c.client_id.clone()).collect(),
            history_per_number: governor::RateLimiter::keyed(per_hour(settings.history_per_hour)),
            notify_per_number: governor::RateLimiter::keyed(per_hour(settings.history_per_hour)),
            lookups_per_id: governor::RateLimiter::keyed(per_hour(settings.lookups_per_id_per_hour)),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Forgets numbers and IDs whose hourly quota is whole again (the
    /// limiters would otherwise keep every key ever seen).
    pub fn forget_idle(&self) {
        self.history_per_number.retain_recent();
        self.notify_per_number.retain_recent();
        self.lookups_per_id.retain_recent();
    }

    pub fn is_hidden(&self, client_id: Option<&str>) -> bool {
        client_id.is_some_and(|c| self.hidden.contains(c))
    }
}

/// Whether the sender may learn about an ID: the registry's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneCheck {
    /// The sender's number is the one registered to the ID.
    Registered,
    /// Another number is registered (outcome `other_number`).
    OtherNumber,
    /// The ID has no registered number (`no_number`).
    NoNumber,
    /// The registry does not know the ID (`unknown_id`).
    UnknownId,
}

impl PhoneCheck {
    pub fn outcome(self) -> &'static str {
        match self {
            PhoneCheck::Registered => "shown",
            PhoneCheck::OtherNumber => "other_number",
            PhoneCheck::NoNumber => "no_number",
            PhoneCheck::UnknownId => "unknown_id",
        }
    }
}

/// Why a request got no answer about the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a national ID after the keyword (`invalid_id`).
    InvalidId,
    /// The number asked too often this hour (`limited`).
    NumberLimited,
    /// The ID was asked about too often this hour (`id_limited`).
    IdLimited,
    /// The registry is down (`registry_unavailable`).
    RegistryDown,
}

impl Refused {
    pub fn outcome(self) -> &'static str {
        match self {
            Refused::InvalidId => "invalid_id",
            Refused::NumberLimited => "limited",
            Refused::IdLimited => "id_limited",
            Refused::RegistryDown => "registry_unavailable",
        }
    }

    /// The reply to a refused request: `nothing` (the non-revealing reply)
    /// for an invalid ID, else the limit's or "try later".
    pub fn reply(self, texts: &texts::CitizenTexts, lang: crate::sms::templates::Lang, nothing: String) -> String {
        match self {
            Refused::InvalidId => nothing,
            Refused::NumberLimited => texts.limited.get(lang).to_owned(),
            Refused::IdLimited | Refused::RegistryDown => texts.try_later.get(lang).to_owned(),
        }
    }
}

/// The limits and the registry's phone check every citizen request passes.
async fn check_sender(
    state: &AppState,
    per_number: &DefaultKeyedRateLimiter<String>,
    phone: &PhoneNumber,
    national_id: Option<&NationalId>,
) -> Result<PhoneCheck, Refused> {
    let citizens = &state.citizens;
    if per_number.check_key(&phone.as_str().to_owned()).is_err() {
        return Err(Refused::NumberLimited);
    }
    let id = national_id.ok_or(Refused::InvalidId)?;
    if citizens.lookups_per_id.check_key(&id.as_str().to_owned()).is_err() {
        return Err(Refused::IdLimited);
    }
    let registry = &state.registries.national_id;
    let answer =
        registry.call_uncached(|r| r.registered_mobile(id.as_str())).await.map_err(|_| Refused::RegistryDown)?;
    Ok(match answer {
        Lookup::NotFound => PhoneCheck::UnknownId,
        Lookup::Found(found) => match found.mobile {
            None => PhoneCheck::NoNumber,
            Some(number) if number == phone.as_str() => PhoneCheck::Registered,
            Some(_) => PhoneCheck::OtherNumber,
        },
    })
}

/// Records a citizen's request: subject the national ID, client `sms-5960`.
async fn record(
    state: &AppState,
    action: crate::audit::Action,
    national_id: Option<&NationalId>,
    outcome: &str,
    started: std::time::Instant,
) -> Result<(), crate::error::ApiError> {
    let event = crate::audit::NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at: crate::audit::now_rfc3339(),
        client_id: Some(CLIENT_ID.into()),
        action: Some(action),
        subject: national_id.map(|id| id.as_str().to_owned()),
        outcome: outcome.to_owned(),
        http_status: 200,
        cache: Some(crate::audit::CacheUse::None),
        duration_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    };
    state.audit.append(event).await.map_err(|_| crate::error::ApiError::StoreUnavailable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_marked_hidden_in_the_clients_file_are_hidden_and_no_other() {
        let text = crate::config::DEFAULT_CLIENTS_TOML.replacen(
            "center_id = \"CAI-NSR-01\"",
            "center_id = \"CAI-NSR-01\"\nhidden_from_citizens = true",
            1,
        );
        let clients = ClientsFile::parse(&text, "test").unwrap();
        let settings = crate::config::Settings::load_from(None, &[]).unwrap().citizens;
        let citizens = Citizens::new(&settings, &clients);
        assert!(citizens.is_hidden(Some("center2-demo")));
        assert!(!citizens.is_hidden(Some("center-demo")));
        assert!(!citizens.is_hidden(None));
    }

    #[test]
    fn one_history_reply_per_number_per_hour_by_default() {
        let clients = ClientsFile::parse(crate::config::DEFAULT_CLIENTS_TOML, "default").unwrap();
        let settings = crate::config::Settings::load_from(None, &[]).unwrap().citizens;
        let citizens = Citizens::new(&settings, &clients);
        let number = "+201001234567".to_owned();
        assert!(citizens.history_per_number.check_key(&number).is_ok());
        assert!(citizens.history_per_number.check_key(&number).is_err());
        assert!(citizens.history_per_number.check_key(&"+201112345678".to_owned()).is_ok());
        citizens.forget_idle();
        assert!(citizens.history_per_number.check_key(&number).is_err(), "forgetting idle keys keeps busy ones");
    }
}
