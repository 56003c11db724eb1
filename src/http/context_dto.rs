//! The `context` object of data calls, parsed and checked against the purpose policy.

use super::gate::AuditFacts;
use super::state::AppState;
use crate::audit::Action;
use crate::auth::Principal;
use crate::auth::policy_refusal::PurposeRefusal;
use crate::domain::context::{CaseRef, OperatorId, Purpose};
use crate::error::{ApiError, FieldError};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextDto {
    /// The employee at the counter: `[A-Za-z0-9._-]{1,64}`.
    pub operator_id: String,
    pub purpose: String,
    /// The citizen's service-request number (1–64 characters).
    pub case_ref: Option<String>,
}

/// A parsed context (fields that failed to parse are None and reported).
pub struct Context {
    pub operator_id: Option<OperatorId>,
    pub purpose: Purpose,
    pub case_ref: Option<CaseRef>,
}

pub fn parse_context(dto: &ContextDto, errors: &mut Vec<FieldError>) -> Context {
    let operator_id =
        OperatorId::parse(&dto.operator_id).map_err(|r| errors.push(FieldError::new("context.operator_id", r))).ok();
    let case_ref = dto
        .case_ref
        .as_deref()
        .and_then(|c| CaseRef::parse(c).map_err(|r| errors.push(FieldError::new("context.case_ref", r))).ok());
    Context { operator_id, purpose: Purpose::new(&dto.purpose), case_ref }
}

impl Context {
    /// Copies what the audit event records.
    pub fn record(&self, facts: &mut AuditFacts) {
        facts.operator_id = self.operator_id.as_ref().map(|o| o.as_str().to_owned());
        facts.case_ref = self.case_ref.as_ref().map(|c| c.as_str().to_owned());
        // Only a configured purpose name is recorded verbatim.
        facts.purpose = Some(self.purpose.as_str().chars().take(64).collect());
    }

    /// Purpose limitation: the purpose exists (400), the client may state it
    /// and it allows the action (403).
    pub fn authorise(&self, state: &AppState, principal: &Principal, action: Action) -> Result<(), ApiError> {
        if let (Some(signed_in), Some(stated)) = (&principal.operator_id, &self.operator_id)
            && signed_in != stated.as_str()
        {
            return Err(ApiError::Forbidden {
                detail: "context.operator_id is not the employee the token's issuer names.",
            });
        }
        let client = state.clients.get(&principal.client_id).ok_or(ApiError::InvalidToken)?;
        match state.policy.check(&client, self.purpose.as_str(), action) {
            Ok(()) => Ok(()),
            Err(PurposeRefusal::Unknown) => Err(ApiError::invalid("context.purpose", "unknown purpose")),
            Err(PurposeRefusal::NotAllowed) => Err(ApiError::Forbidden {
                detail: "This client may not state this purpose, or the purpose does not allow this action.",
            }),
        }
    }
}
