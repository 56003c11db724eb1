//! Purpose limitation: which purposes exist and which actions each allows.

use crate::audit::Action;
use crate::config::PurposesFile;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Default)]
pub struct PurposePolicy {
    purposes: HashMap<String, HashSet<Action>>,
}

/// Why a stated purpose was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurposeRefusal {
    /// No such purpose is configured (400).
    Unknown,
    /// The client may not state it, or it does not allow the action (403).
    NotAllowed,
}

impl PurposePolicy {
    pub fn new(file: &PurposesFile) -> Self {
        let purposes = file
            .purposes
            .iter()
            .map(|(p, actions)| (p.clone(), actions.iter().filter_map(|a| Action::parse(a)).collect()))
            .collect();
        PurposePolicy { purposes }
    }

    /// The configured purposes, sorted (the OpenAPI document's enum).
    pub fn purposes(&self) -> Vec<String> {
        let mut names: Vec<String> = self.purposes.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn check(&self, client: &super::Client, purpose: &str, action: Action) -> Result<(), PurposeRefusal> {
        let allowed = self.purposes.get(purpose).ok_or(PurposeRefusal::Unknown)?;
        if !client.may_state(purpose) || !allowed.contains(&action) {
            return Err(PurposeRefusal::NotAllowed);
        }
        Ok(())
    }
}
