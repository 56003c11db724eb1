//! Security checks: asynchronous by nature. A check is stored before the 202;
//! a background worker submits it upstream, follows it up until decided, and
//! delivers the client's signed callback. Everything it needs to resume is in
//! the store, so a check pending when the gateway stops is finished after it
//! starts again. Results are never cached.

mod callback;
mod worker;

pub use callback::{sign, verify_callback_url};
pub use worker::{SecurityWorker, WorkerSettings};

use crate::store::SecurityCheckRow;
use serde::Serialize;

/// The kinds of check the security directorate performs.
pub const CHECK_TYPES: [&str; 3] = ["shop_license", "employment", "general"];

/// The states of a check: `pending` until the directorate decides.
pub const CHECK_STATUSES: [&str; 4] = ["pending", "cleared", "not_cleared", "failed"];

/// The body of `GET /v1/security-checks/{id}`, and of the callback.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    pub id: String,
    /// `pending`, `cleared`, `not_cleared` or `failed`.
    pub status: String,
    pub submitted_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

impl From<&SecurityCheckRow> for CheckView {
    fn from(r: &SecurityCheckRow) -> Self {
        CheckView {
            id: r.id.clone(),
            status: r.status.clone(),
            submitted_at: r.submitted_at.clone(),
            decided_at: r.decided_at.clone(),
        }
    }
}
