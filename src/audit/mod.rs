//! The audit log: one event per `/v1` call and token request, in a hash chain,
//! committed durably before the answer leaves.

pub mod archive;
mod chain;
pub mod checkpoint;
pub mod export;
pub mod report;
pub mod signals;
pub mod signing_lag;
pub mod stats;
mod writer;

pub use chain::{ChainVerifier, GENESIS_HASH, VerifyReport, event_hash, seal, verify_chain};
pub use checkpoint::{Checkpoint, CheckpointKey, TrustedKeys};
pub use writer::{AuditLog, AuditSink, Sealer};

use serde::Serialize;

/// What was attempted. Also the unit of purpose policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum Action {
    #[serde(rename = "token.issue")]
    TokenIssue,
    #[serde(rename = "national_id.verify")]
    NationalIdVerify,
    #[serde(rename = "commercial_register.verify")]
    CommercialRegisterVerify,
    #[serde(rename = "real_estate.verify")]
    RealEstateVerify,
    #[serde(rename = "security_check.submit")]
    SecurityCheckSubmit,
    #[serde(rename = "security_check.read")]
    SecurityCheckRead,
    #[serde(rename = "sms.send")]
    SmsSend,
    #[serde(rename = "sms.read")]
    SmsRead,
    #[serde(rename = "sms.delivery_report")]
    SmsDeliveryReport,
    #[serde(rename = "sms.inbound")]
    SmsInbound,
    #[serde(rename = "audit.query")]
    AuditQuery,
    #[serde(rename = "audit.export")]
    AuditExport,
    #[serde(rename = "audit.integrity")]
    AuditIntegrity,
    #[serde(rename = "receipt.qr")]
    ReceiptQr,
    #[serde(rename = "auth.denied")]
    AuthDenied,
    /// A citizen texted 5960 for their access history (CONTRACT §12).
    #[serde(rename = "citizen.history")]
    CitizenHistory,
    /// A citizen texted 5960 to be told of each access to their data.
    #[serde(rename = "citizen.notify")]
    CitizenNotify,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::TokenIssue,
        Action::NationalIdVerify,
        Action::CommercialRegisterVerify,
        Action::RealEstateVerify,
        Action::SecurityCheckSubmit,
        Action::SecurityCheckRead,
        Action::SmsSend,
        Action::SmsRead,
        Action::SmsDeliveryReport,
        Action::SmsInbound,
        Action::AuditQuery,
        Action::AuditExport,
        Action::AuditIntegrity,
        Action::ReceiptQr,
        Action::AuthDenied,
        Action::CitizenHistory,
        Action::CitizenNotify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::TokenIssue => "token.issue",
            Action::NationalIdVerify => "national_id.verify",
            Action::CommercialRegisterVerify => "commercial_register.verify",
            Action::RealEstateVerify => "real_estate.verify",
            Action::SecurityCheckSubmit => "security_check.submit",
            Action::SecurityCheckRead => "security_check.read",
            Action::SmsSend => "sms.send",
            Action::SmsRead => "sms.read",
            Action::SmsDeliveryReport => "sms.delivery_report",
            Action::SmsInbound => "sms.inbound",
            Action::AuditQuery => "audit.query",
            Action::AuditExport => "audit.export",
            Action::AuditIntegrity => "audit.integrity",
            Action::ReceiptQr => "receipt.qr",
            Action::AuthDenied => "auth.denied",
            Action::CitizenHistory => "citizen.history",
            Action::CitizenNotify => "citizen.notify",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The scopes a bearer token needs one of for this action (None: not a bearer call).
    pub fn required_scope(self) -> Option<&'static [crate::auth::Scope]> {
        use crate::auth::Scope;
        match self {
            Action::NationalIdVerify => Some(&[Scope::NationalIdVerify]),
            Action::CommercialRegisterVerify => Some(&[Scope::CommercialRegisterVerify]),
            Action::RealEstateVerify => Some(&[Scope::RealEstateVerify]),
            Action::SecurityCheckSubmit | Action::SecurityCheckRead => Some(&[Scope::SecurityCheck]),
            Action::SmsSend | Action::SmsRead => Some(&[Scope::SmsSend]),
            Action::AuditQuery | Action::AuditExport | Action::AuditIntegrity => Some(&[Scope::AuditRead]),
            // A receipt comes from a verify call: any verify scope reads its QR
            // (and only the client it was issued to: the handler checks).
            Action::ReceiptQr => {
                Some(&[Scope::NationalIdVerify, Scope::CommercialRegisterVerify, Scope::RealEstateVerify])
            }
            Action::TokenIssue
            | Action::AuthDenied
            | Action::SmsDeliveryReport
            | Action::SmsInbound
            | Action::CitizenHistory
            | Action::CitizenNotify => None,
        }
    }
}

/// Whether a registry record was looked up, and how it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheUse {
    Hit,
    Miss,
    Stale,
    None,
}

impl CacheUse {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Stale => "stale",
            CacheUse::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<CacheUse> {
        [CacheUse::Hit, CacheUse::Miss, CacheUse::Stale, CacheUse::None].into_iter().find(|c| c.as_str() == s)
    }
}

/// An event as the API shows it and the chain hashes it. Field order is the
/// contract's (and the CSV export's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub seq: i64,
    pub at: String,
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    pub operator_id: Option<String>,
    pub action: Action,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub case_ref: Option<String>,
    pub outcome: String,
    pub http_status: u16,
    pub cache: CacheUse,
    pub duration_ms: u64,
    pub prev_hash: String,
    pub hash: String,
}

/// An event before it has a place in the chain.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub id: String,
    pub at: String,
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    pub operator_id: Option<String>,
    pub action: Option<Action>,
    pub subject: Option<String>,
    pub purpose: Option<String>,
    pub case_ref: Option<String>,
    pub outcome: String,
    pub http_status: u16,
    pub cache: Option<CacheUse>,
    pub duration_ms: u64,
    /// The receipt a verify call issued: stored in the event's own
    /// transaction (never in the hash chain: the event is the record).
    pub receipt: Option<crate::receipts::StoredReceipt>,
    /// The claim values of a verification that mismatched (the claim-guessing
    /// stop's count): stored in the event's own transaction, so that they are
    /// recorded exactly when the answer that reports them is.
    pub claim_mismatches: Vec<crate::store::ClaimMismatchRow>,
}

/// Filters of `/v1/audit/events` (and export). Values are bound as
/// parameters, never spliced into SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    /// The centers of one governorate: those whose ID begins with this code
    /// and a hyphen (`SHR` → `SHR-ZAG-01`). Left out of a cursor's
    /// fingerprint when absent, so that earlier cursors stay valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub governorate: Option<String>,
    pub operator_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339 UTC, inclusive.
    pub from: Option<String>,
    /// RFC 3339 UTC, exclusive.
    pub to: Option<String>,
}

impl AuditFilter {
    /// Why a value is not a governorate code (the API's and the CLI's words).
    pub const GOVERNORATE_REASON: &str =
        "must be a governorate code: the capital letters before a center ID's first hyphen (e.g. SHR)";

    /// A governorate code as `governorate` takes it: one to eight capital
    /// letters or digits (the part of a center ID before its first hyphen).
    pub fn is_governorate_code(code: &str) -> bool {
        (1..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }

    /// Whether the center filters (`center_id`, `governorate`) admit this center.
    pub fn covers_center(&self, center: Option<&str>) -> bool {
        let center_ok = self.center_id.as_deref().is_none_or(|c| center == Some(c));
        let governorate_ok = self
            .governorate
            .as_deref()
            .is_none_or(|g| center.and_then(|c| c.strip_prefix(g)).is_some_and(|rest| rest.starts_with('-')));
        center_ok && governorate_ok
    }

    /// The equality filters as (column, value); column names are fixed here.
    pub fn equalities(&self) -> Vec<(&'static str, &str)> {
        [
            ("subject", &self.subject),
            ("client_id", &self.client_id),
            ("center_id", &self.center_id),
            ("operator_id", &self.operator_id),
            ("action", &self.action),
            ("outcome", &self.outcome),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.as_deref().map(|v| (c, v)))
        .collect()
    }
}

/// Current time as the audit log writes it: RFC 3339 UTC with microseconds,
/// fixed width so that text order is time order.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format_rfc3339(now)
}

pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}
