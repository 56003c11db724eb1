//! The purposes file: each purpose a client may state, and the actions it allows.

use super::Problems;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposesFile {
    pub purposes: BTreeMap<String, Vec<String>>,
}

impl PurposesFile {
    pub fn parse(text: &str, origin: &str) -> Result<PurposesFile, Problems> {
        let file: PurposesFile = toml::from_str(text).map_err(|e| {
            let mut p = Problems::default();
            p.push(origin, "", &format!("is not a valid purposes file: {}", e.message()));
            p
        })?;
        let mut problems = Problems::default();
        for (purpose, actions) in &file.purposes {
            for a in actions {
                if crate::audit::Action::parse(a).is_none() {
                    problems.push(&format!("{origin}: purposes.{purpose}"), a, "unknown action");
                }
            }
        }
        problems.into_result().map(|()| file)
    }
}
