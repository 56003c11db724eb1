//! Authentication and authorisation: clients and their secrets, gateway-signed
//! tokens, scopes, rate limits, and the purpose policy.

mod clients;
pub mod external;
pub(crate) mod keys;
mod policy;
mod rate;
mod tokens;

pub use clients::{Client, ClientRegistry, verify_hash as verify_secret_hash};
pub use keys::{KeyRing, generate_pem};
pub use policy::PurposePolicy;
pub mod policy_refusal {
    pub use super::policy::PurposeRefusal;
}
pub use rate::{RateLimits, retry_after_secs};
pub use tokens::{Claims, TokenService, unix_now};

use serde::Serialize;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Scope {
    NationalIdVerify,
    CommercialRegisterVerify,
    RealEstateVerify,
    SecurityCheck,
    SmsSend,
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::NationalIdVerify,
        Scope::CommercialRegisterVerify,
        Scope::RealEstateVerify,
        Scope::SecurityCheck,
        Scope::SmsSend,
        Scope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::NationalIdVerify => "national_id:verify",
            Scope::CommercialRegisterVerify => "commercial_register:verify",
            Scope::RealEstateVerify => "real_estate:verify",
            Scope::SecurityCheck => "security:check",
            Scope::SmsSend => "sms:send",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The authenticated caller of a `/v1` request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub client_id: String,
    pub center_id: Option<String>,
    pub scopes: Vec<Scope>,
    /// The employee at the counter, from an external issuer's `operator_claim`:
    /// recorded as the audit event's `operator_id`, and a body's must agree.
    pub operator_id: Option<String>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}
