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
        let file: PurposesFile = super::parse_file(text, origin)?;
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
