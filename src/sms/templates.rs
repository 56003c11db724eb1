//! SMS templates (`config/sms_templates.toml`): the only texts ever sent.

use crate::config::Problems;
use crate::domain::sms_encoding::{Segmented, segment};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The longest value of a template parameter, in characters.
pub const PARAM_MAX_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ar,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ar, Lang::En];

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ar => "ar",
            Lang::En => "en",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bilingual {
    pub ar: String,
    pub en: String,
}

impl Bilingual {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ar => &self.ar,
            Lang::En => &self.en,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub params: Vec<String>,
    pub ar: String,
    pub en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replies {
    pub status: Bilingual,
    pub unknown: Bilingual,
    pub opted_out: Bilingual,
    pub opted_in: Bilingual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub templates: BTreeMap<String, Template>,
    pub statuses: BTreeMap<String, Bilingual>,
    pub replies: Replies,
    /// Citizens' history replies and access alerts (CONTRACT §12).
    #[serde(default = "crate::citizens::texts::embedded")]
    pub citizens: crate::citizens::texts::CitizenTexts,
}

/// Why a message could not be made from a template (each a 400 on `field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> RenderError {
    RenderError { field: field.into(), reason: reason.into() }
}

/// Fills `{name}` placeholders; the values were checked before.
fn fill(text: &str, values: &BTreeMap<&str, &str>) -> String {
    let mut out = text.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

impl Templates {
    pub fn parse(text: &str, origin: &str) -> Result<Templates, Problems> {
        let t: Templates = toml::from_str(text).map_err(|e| {
            let mut p = Problems::default();
            p.push(origin, "", &format!("is not a valid templates file: {}", e.message()));
            p
        })?;
        let mut p = Problems::default();
        t.citizens.check(origin, &mut p);
        for (name, tpl) in &t.templates {
            for text in [&tpl.ar, &tpl.en] {
                for param in &tpl.params {
                    if !text.contains(&format!("{{{param}}}")) {
                        p.push(&format!("{origin}: templates.{name}"), param, "param not used in the text");
                    }
                }
            }
        }
        p.into_result().map(|()| t)
    }

    /// Renders `template` in `lang` with `params`, refusing unknown or missing
    /// params, unknown statuses, control characters, and texts longer than
    /// `max_segments`. Returns the text, its segmentation and the status key.
    pub fn render(
        &self,
        template: &str,
        lang: Lang,
        params: &BTreeMap<String, String>,
        max_segments: usize,
    ) -> Result<(String, Segmented, Option<String>), Vec<RenderError>> {
        let tpl = self.templates.get(template).ok_or_else(|| vec![err("template", "unknown template")])?;
        let mut errors = Vec::new();
        for name in params.keys() {
            if !tpl.params.contains(name) {
                errors.push(err(format!("params.{name}"), "unknown parameter"));
            }
        }
        let mut values: BTreeMap<&str, &str> = BTreeMap::new();
        let mut status_key = None;
        for name in &tpl.params {
            match params.get(name) {
                None => errors.push(err(format!("params.{name}"), "missing parameter")),
                Some(v) if v.trim().is_empty() || v.chars().count() > PARAM_MAX_CHARS => {
                    errors.push(err(format!("params.{name}"), "must be 1 to 100 characters"))
                }
                Some(v) if v.chars().any(|c| c.is_control()) => {
                    errors.push(err(format!("params.{name}"), "control characters are not allowed"))
                }
                Some(v) if name == "status" => match self.statuses.get(v) {
                    Some(label) => {
                        values.insert("status", label.get(lang));
                        status_key = Some(v.clone());
                    }
                    None => errors.push(err("params.status", "unknown status")),
                },
                Some(v) => {
                    values.insert(name, v);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = fill(
            match lang {
                Lang::Ar => &tpl.ar,
                Lang::En => &tpl.en,
            },
            &values,
        );
        let segmented = segment(&text);
        if segmented.segments() > max_segments {
            return Err(vec![err(
                "params",
                format!("the message would need {} segments; at most {max_segments} are allowed", segmented.segments()),
            )]);
        }
        Ok((text, segmented, status_key))
    }

    /// The reply to a citizen asking about `case_ref`, with the label of `status_key`.
    pub fn status_reply(&self, lang: Lang, case_ref: &str, status_key: &str) -> String {
        let label = self.statuses.get(status_key).map(|l| l.get(lang)).unwrap_or(status_key);
        let values = BTreeMap::from([("case_ref", case_ref), ("status", label)]);
        fill(self.replies.status.get(lang), &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sms_encoding::Encoding;

    fn templates() -> Templates {
        Templates::parse(crate::config::DEFAULT_SMS_TEMPLATES_TOML, "default").unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_arabic_request_status_fits_two_ucs2_segments() {
        let t = templates();
        for status in t.statuses.keys() {
            let (text, seg, key) = t
                .render(
                    "request_status",
                    Lang::Ar,
                    &params(&[("case_ref", "SHR-2025-000123"), ("status", status), ("center", "SHR-ZAG-01")]),
                    3,
                )
                .unwrap();
            assert_eq!(seg.encoding, Encoding::Ucs2);
            assert!(seg.segments() <= 2, "{text}: {}", seg.segments());
            assert_eq!(key.as_deref(), Some(status.as_str()));
        }
    }

    #[test]
    fn the_english_template_is_gsm7() {
        let (text, seg, _) = templates()
            .render(
                "request_status",
                Lang::En,
                &params(&[("case_ref", "A-1"), ("status", "approved"), ("center", "Zagazig")]),
                3,
            )
            .unwrap();
        assert!(text.contains("approved"));
        assert_eq!(seg.encoding, Encoding::Gsm7);
    }

    #[test]
    fn unknown_missing_and_extra_params_are_each_named() {
        let e = templates()
            .render("request_status", Lang::En, &params(&[("case_ref", "A"), ("status", "done"), ("extra", "x")]), 3)
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"params.extra"));
        assert!(fields.contains(&"params.center"));
        assert!(fields.contains(&"params.status"));
        assert_eq!(templates().render("nope", Lang::En, &params(&[]), 3).unwrap_err()[0].field, "template");
    }

    #[test]
    fn a_param_that_pushes_past_the_maximum_segments_is_refused() {
        let long = "م".repeat(100);
        let e = templates()
            .render(
                "request_status",
                Lang::Ar,
                &params(&[("case_ref", "A"), ("status", "approved"), ("center", &long)]),
                2,
            )
            .unwrap_err();
        assert_eq!(e[0].field, "params");
    }
}
