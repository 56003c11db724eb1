//! `تنبيه <id>` / `NOTIFY <id>`: after the phone check, each later access
//! to the ID's data queues an SMS to the registered number, at most one per
//! ID per `citizens.notify_interval_seconds`, summarising the accesses since
//! the previous one. `STOP` ends it. Alerts go through the durable outbox as
//! notifications (so an opted-out number gets none).
//!
//! A background task finds due alerts in the store (one query), woken by
//! [`Citizens::data_called`] after each data call and every few seconds
//! anyway; the store's claim makes exactly one replica send each alert.

use super::texts::fill;
use super::{Citizens, PhoneCheck, check_sender, record};
use crate::audit::Action;
use crate::domain::national_id::NationalId;
use crate::domain::phone::PhoneNumber;
use crate::error::ApiError;
use crate::http::state::AppState;
use crate::sms::templates::Lang;
use std::time::Duration;

/// How often the task looks for due alerts without being woken.
const TICK: Duration = Duration::from_secs(5);
/// After a wake-up, the pause that lets the call's audit event commit.
const SETTLE: Duration = Duration::from_millis(300);
/// Most alerts one pass sends.
const BATCH: u32 = 500;

impl Citizens {
    /// A data call just happened: look for due alerts soon. Cheap and
    /// synchronous (no store access on the caller's path).
    pub fn data_called(&self) {
        self.wake.notify_one();
    }
}

/// Answers one NOTIFY request; the reply text. Recorded as `citizen.notify`.
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
    let check = check_sender(state, &citizens.notify_per_number, phone, national_id).await;
    let (outcome, text) = match (check, national_id) {
        (Ok(PhoneCheck::Registered), Some(id)) => {
            let now = crate::audit::now_rfc3339();
            match state.audit.store().watch_set(id.as_str(), phone.as_str(), lang.as_str(), &now).await {
                Ok(()) => ("watching", texts.notify_on.get(lang).to_owned()),
                Err(_) => ("store_unavailable", texts.try_later.get(lang).to_owned()),
            }
        }
        (Ok(other), _) => (other.outcome(), nothing),
        (Err(refused), _) => (refused.outcome(), refused.reply(texts, lang, nothing)),
    };
    record(state, Action::CitizenNotify, national_id, outcome, started).await?;
    Ok(text)
}

/// `STOP`: ends every alert to this number.
pub async fn stop(state: &AppState, phone: &PhoneNumber) -> Result<(), ApiError> {
    state.audit.store().watch_remove_phone(phone.as_str()).await?;
    Ok(())
}

/// Runs until the process ends: sends the alerts that are due.
pub fn spawn(state: actix_web::web::Data<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let woken = tokio::time::timeout(TICK, state.citizens.wake.notified()).await.is_ok();
            if woken {
                tokio::time::sleep(SETTLE).await;
            }
            state.citizens.forget_idle();
            if let Err(e) = send_due(&state).await {
                tracing::warn!(error = %e, "access alerts not sent this pass");
            }
        }
    })
}

/// One pass: every watch with accesses since its last alert, and due, gets one.
pub async fn send_due(state: &AppState) -> Result<usize, ApiError> {
    let citizens = &state.citizens;
    let texts = &state.sms.templates.citizens;
    let store = state.audit.store();
    let now = time::OffsetDateTime::now_utc();
    let not_after = crate::audit::format_rfc3339(now - Duration::from_secs(citizens.settings.notify_interval_seconds));
    let now = crate::audit::format_rfc3339(now);
    let actions = texts.shown_actions();
    let hidden: Vec<&str> = citizens.hidden.iter().map(String::as_str).collect();
    let mut sent = 0;
    for watch in store.watches_with_pending(&not_after, &actions, &hidden, BATCH).await? {
        // Claimed first: accesses after `now` belong to the next alert.
        if !store.watch_claim_alert(&watch.national_id, &now, &not_after).await? {
            continue;
        }
        let from = watch.last_alert_at.clone().unwrap_or_else(|| watch.since.clone());
        let events = store.subject_events_since(&watch.national_id, &from, &actions, 10_000).await?;
        let events: Vec<_> = super::history::shown(citizens, events).into_iter().filter(|e| e.at < now).collect();
        let Some(latest) = events.first() else { continue };
        let lang = Lang::parse(&watch.lang).unwrap_or(Lang::Ar);
        let text = fill(
            texts.alert.get(lang),
            &[
                ("count", &events.len().to_string()),
                ("since", from.get(..10).unwrap_or(&from)),
                ("date", latest.at.get(..10).unwrap_or(&latest.at)),
                ("governorate", texts.governorate(latest.center_id.as_deref(), lang)),
            ],
        );
        let Ok(to) = PhoneNumber::parse(&watch.phone) else { continue };
        let row = crate::http::sms::queued_message(crate::http::sms::QueuedMessage {
            id: uuid::Uuid::now_v7().to_string(),
            client_id: super::CLIENT_ID.into(),
            kind: "notification",
            to: &to,
            case_ref: None,
            lang,
            status_key: None,
            text,
        });
        state.sms.acceptor.accept(None, row).await?;
        sent += 1;
    }
    Ok(sent)
}
