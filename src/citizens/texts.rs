//! The texts of citizens' history replies and access alerts: the
//! `[citizens]` table of the SMS templates file (the only texts ever sent).

use crate::config::Problems;
use crate::sms::templates::{Bilingual, Lang};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitizenTexts {
    pub history_header: Bilingual,
    pub history_entry: Bilingual,
    pub history_more: Bilingual,
    pub history_none: Bilingual,
    pub try_later: Bilingual,
    pub limited: Bilingual,
    pub notify_on: Bilingual,
    pub alert: Bilingual,
    pub other_purpose: Bilingual,
    pub unknown_governorate: Bilingual,
    /// By audit action: the registry it consults. Only these actions are shown.
    pub registries: BTreeMap<String, Bilingual>,
    pub purposes: BTreeMap<String, Bilingual>,
    /// By the first part of a center id.
    pub governorates: BTreeMap<String, Bilingual>,
}

/// The embedded templates' `[citizens]`, for a templates file without one.
pub fn embedded() -> CitizenTexts {
    #[derive(Deserialize)]
    struct Only {
        citizens: CitizenTexts,
    }
    toml::from_str::<Only>(crate::config::DEFAULT_SMS_TEMPLATES_TOML)
        .map(|o| o.citizens)
        .expect("the embedded SMS templates have a valid [citizens] table")
}

/// Fills `{name}` placeholders.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl CitizenTexts {
    /// The placeholders each text must use, checked when the file is loaded.
    pub fn check(&self, origin: &str, p: &mut Problems) {
        for (name, text, params) in [
            ("history_header", &self.history_header, &["days"][..]),
            ("history_entry", &self.history_entry, &["date", "governorate", "registry", "purpose"][..]),
            ("history_more", &self.history_more, &["count"][..]),
            ("history_none", &self.history_none, &["days"][..]),
            ("alert", &self.alert, &["count", "since", "date", "governorate"][..]),
        ] {
            for lang in Lang::ALL {
                for param in params {
                    if !text.get(lang).contains(&format!("{{{param}}}")) {
                        p.push(&format!("{origin}: citizens.{name}.{}", lang.as_str()), param, "param not used");
                    }
                }
            }
        }
        for action in self.registries.keys() {
            if crate::audit::Action::parse(action).is_none() {
                p.push(&format!("{origin}: citizens.registries"), action, "unknown action");
            }
        }
    }

    /// The governorate of a center (`SHR-ZAG-01` → Sharqia): never the center.
    pub fn governorate(&self, center_id: Option<&str>, lang: Lang) -> &str {
        center_id
            .and_then(|c| c.split('-').next())
            .and_then(|code| self.governorates.get(code))
            .unwrap_or(&self.unknown_governorate)
            .get(lang)
    }

    pub fn purpose(&self, purpose: Option<&str>, lang: Lang) -> &str {
        purpose.and_then(|p| self.purposes.get(p)).unwrap_or(&self.other_purpose).get(lang)
    }

    /// The registry an action consults, `None` for actions never shown.
    pub fn registry(&self, action: &str, lang: Lang) -> Option<&str> {
        self.registries.get(action).map(|r| r.get(lang))
    }

    /// The actions a history shows.
    pub fn shown_actions(&self) -> Vec<&str> {
        self.registries.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_governorate_comes_from_the_center_and_never_names_it() {
        let t = embedded();
        assert_eq!(t.governorate(Some("SHR-ZAG-01"), Lang::Ar), "الشرقية");
        assert_eq!(t.governorate(Some("CAI-NSR-01"), Lang::En), "Cairo");
        assert_eq!(t.governorate(Some("XXX-1"), Lang::En), "unknown governorate");
        assert_eq!(t.governorate(None, Lang::Ar), "محافظة غير محددة");
    }

    #[test]
    fn every_configured_purpose_has_a_label() {
        let t = embedded();
        let purposes =
            crate::config::PurposesFile::parse(crate::config::DEFAULT_PURPOSES_TOML, "default").unwrap().purposes;
        for name in purposes.keys() {
            assert!(t.purposes.contains_key(name), "{name} has no label");
        }
        assert_eq!(t.purpose(Some("nope"), Lang::En), "other purpose");
    }

    #[test]
    fn the_embedded_texts_pass_their_check() {
        let mut p = Problems::default();
        embedded().check("default", &mut p);
        assert!(p.0.is_empty(), "{p}");
    }
}
