//! `سجل <id>` / `HISTORY <id>`: the accesses to a citizen's data of the last
//! `citizens.history_days`, for the number registered to the ID only.

use super::{Citizens, PhoneCheck, Refused, check_sender, record, reply};
use crate::audit::{Action, AuditEvent};
use crate::domain::national_id::NationalId;
use crate::domain::phone::PhoneNumber;
use crate::error::ApiError;
use crate::http::state::AppState;
use crate::sms::templates::Lang;

/// The most events one history reads; far more than any reply can show.
const MAX_EVENTS: u32 = 10_000;

/// The accesses a citizen may see: the shown actions, answered (2xx), by
/// clients not hidden from citizens, newest first.
pub fn shown(citizens: &Citizens, events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    events
        .into_iter()
        .filter(|e| (200..300).contains(&e.http_status) && !citizens.is_hidden(e.client_id.as_deref()))
        .collect()
}

/// Answers one history request; the reply text for the outbox. The request
/// is recorded as `citizen.history`.
pub async fn answer(
    state: &AppState,
    phone: &PhoneNumber,
    lang: Lang,
    national_id: Option<&NationalId>,
) -> Result<String, ApiError> {
    let started = std::time::Instant::now();
    let citizens = &state.citizens;
    let texts = &state.sms.templates.citizens;
    let nothing = state.sms.templates.replies.unknown.get(lang).to_owned();
    let check = check_sender(state, &citizens.history_per_number, phone, national_id).await;
    let (outcome, text) = match (check, national_id) {
        (Err(refused), _) => (refused.outcome(), refused.reply(texts, lang, nothing)),
        (Ok(check), Some(id)) => {
            // Read whatever the check said, so that a match costs no more time than a mismatch.
            let days = citizens.settings.history_days;
            let since = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
            let events = state
                .audit
                .store()
                .subject_events_since(
                    id.as_str(),
                    &crate::audit::format_rfc3339(since),
                    &texts.shown_actions(),
                    MAX_EVENTS,
                )
                .await;
            match (check, events) {
                (PhoneCheck::Registered, Ok(events)) => {
                    let entries: Vec<String> =
                        shown(citizens, events).iter().filter_map(|e| reply::entry(texts, e, lang)).collect();
                    (check.outcome(), reply::history(texts, lang, days, &entries, state.sms.max_segments))
                }
                (PhoneCheck::Registered, Err(_)) => ("store_unavailable", texts.try_later.get(lang).to_owned()),
                (other, _) => (other.outcome(), nothing),
            }
        }
        (Ok(_), None) => (Refused::InvalidId.outcome(), nothing),
    };
    record(state, Action::CitizenHistory, national_id, outcome, started).await?;
    Ok(text)
}
