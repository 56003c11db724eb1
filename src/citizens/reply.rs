//! The history reply: a header, the accesses newest first as many as fit
//! `sms.max_segments` (segments counted exactly, GSM-7 or UCS-2), then how
//! many more there were.

use super::texts::{CitizenTexts, fill};
use crate::audit::AuditEvent;
use crate::domain::sms_encoding::segment;
use crate::sms::templates::Lang;

/// One access as a citizen reads it: date, governorate, registry, purpose.
/// Never the center, the employee or the client.
pub fn entry(texts: &CitizenTexts, event: &AuditEvent, lang: Lang) -> Option<String> {
    let registry = texts.registry(event.action.as_str(), lang)?;
    let date = event.at.get(..10).unwrap_or(&event.at);
    Some(fill(
        texts.history_entry.get(lang),
        &[
            ("date", date),
            ("governorate", texts.governorate(event.center_id.as_deref(), lang)),
            ("registry", registry),
            ("purpose", texts.purpose(event.purpose.as_deref(), lang)),
        ],
    ))
}

fn fits(text: &str, max_segments: usize) -> bool {
    segment(text).segments() <= max_segments
}

/// The reply for `entries` (already newest first), within `max_segments`.
pub fn history(texts: &CitizenTexts, lang: Lang, days: u32, entries: &[String], max_segments: usize) -> String {
    let days = days.to_string();
    if entries.is_empty() {
        return fill(texts.history_none.get(lang), &[("days", &days)]);
    }
    let header = fill(texts.history_header.get(lang), &[("days", &days)]);
    let more = |n: usize| fill(texts.history_more.get(lang), &[("count", &n.to_string())]);
    let compose = |shown: usize| {
        let mut text = header.clone();
        for e in &entries[..shown] {
            text.push('\n');
            text.push_str(e);
        }
        if shown < entries.len() {
            text.push('\n');
            text.push_str(&more(entries.len() - shown));
        }
        text
    };
    let all = compose(entries.len());
    if fits(&all, max_segments) {
        return all;
    }
    let mut best = compose(0);
    for shown in 1..entries.len() {
        let text = compose(shown);
        if !fits(&text, max_segments) {
            break;
        }
        best = text;
    }
    if fits(&best, max_segments) { best } else { more(entries.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, CacheUse};
    use proptest::prelude::*;

    fn event(at: &str, center: &str, action: Action, purpose: &str) -> AuditEvent {
        AuditEvent {
            id: "e".into(),
            seq: 1,
            at: at.into(),
            client_id: Some("center-demo".into()),
            center_id: Some(center.into()),
            operator_id: Some("EMP-1001".into()),
            action,
            subject: Some("29001011300036".into()),
            purpose: Some(purpose.into()),
            case_ref: Some("SHR-2025-000123".into()),
            outcome: "match".into(),
            http_status: 200,
            cache: CacheUse::Miss,
            duration_ms: 3,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn an_entry_shows_date_governorate_registry_and_purpose_never_center_or_employee() {
        let t = super::super::texts::embedded();
        let e = event("2026-12-01T10:00:00.000000Z", "SHR-ZAG-01", Action::NationalIdVerify, "building_permit");
        let ar = entry(&t, &e, Lang::Ar).unwrap();
        assert_eq!(ar, "2026-12-01 الشرقية: السجل المدني، ترخيص بناء");
        let en = entry(&t, &e, Lang::En).unwrap();
        assert_eq!(en, "2026-12-01 Sharqia: civil registry, building permit");
        for text in [ar, en] {
            assert!(!text.contains("ZAG") && !text.contains("EMP") && !text.contains("center"), "{text}");
        }
        let read = event("2026-12-01T10:00:00Z", "SHR-ZAG-01", Action::SecurityCheckRead, "shop_license");
        assert_eq!(entry(&t, &read, Lang::En), None);
    }

    #[test]
    fn a_short_history_is_shown_whole_and_an_empty_one_says_so() {
        let t = super::super::texts::embedded();
        let entries = vec!["2026-12-01 Sharqia: civil registry, building permit".to_owned()];
        let text = history(&t, Lang::En, 180, &entries, 3);
        assert_eq!(
            text,
            "Who looked at your data in the last 180 days:\n2026-12-01 Sharqia: civil registry, building permit"
        );
        assert_eq!(history(&t, Lang::En, 180, &[], 3), "No one looked at your data in the last 180 days.");
    }

    #[test]
    fn hundreds_of_arabic_entries_stay_within_the_segments_and_count_the_rest() {
        let t = super::super::texts::embedded();
        let e = event("2026-12-01T10:00:00Z", "CAI-NSR-01", Action::NationalIdVerify, "utility_connection");
        let entries: Vec<String> = (0..400).map(|_| entry(&t, &e, Lang::Ar).unwrap()).collect();
        for max in 1..=5 {
            let text = history(&t, Lang::Ar, 180, &entries, max);
            assert!(segment(&text).segments() <= max, "{max}: {text}");
            let shown = text.lines().filter(|l| l.starts_with("2026-")).count();
            assert!(text.ends_with(&format!("و{} غيرها", 400 - shown)), "{text}");
            // One more entry would not have fitted.
            if shown > 0 {
                let mut longer = text.lines().take(1 + shown).collect::<Vec<_>>().join("\n");
                longer.push('\n');
                longer.push_str(&entries[0]);
                longer.push_str(&format!("\nو{} غيرها", 400 - shown - 1));
                assert!(segment(&longer).segments() > max, "{max}");
            }
        }
    }

    proptest! {
        #[test]
        fn the_reply_never_exceeds_max_segments(n in 0usize..300, max in 1usize..=10, english in any::<bool>()) {
            let t = super::super::texts::embedded();
            let lang = if english { Lang::En } else { Lang::Ar };
            let e = event("2026-12-01T10:00:00Z", "GIZ-DOK-01", Action::SecurityCheckSubmit, "shop_license");
            let entries: Vec<String> = (0..n).map(|_| entry(&t, &e, lang).unwrap()).collect();
            let text = history(&t, lang, 180, &entries, max);
            prop_assert!(segment(&text).segments() <= max);
        }
    }
}
