//! Everything a handler may use, built once per application.

use crate::audit::AuditLog;
use crate::auth::{ClientRegistry, PurposePolicy, RateLimits, TokenService};
use crate::metrics::Metrics;
use crate::resilience::Guard;
use crate::resilience::{Circuit, Resilient};
use connectors::commercial_register::CommercialRegisterRegistry;
use connectors::national_id::NationalIdRegistry;
use connectors::real_estate::RealEstateRegistry;
use std::sync::Arc;

/// Every upstream, each behind the one shared resilience stack.
pub struct Registries {
    pub national_id: Resilient<NationalIdRegistry>,
    pub commercial_register: Resilient<CommercialRegisterRegistry>,
    pub real_estate: Resilient<RealEstateRegistry>,
    /// The security directorate: guarded but never cached.
    pub security: Arc<Guard>,
    /// The SMSC: guarded, never cached.
    pub smsc: Arc<Guard>,
}

impl Registries {
    /// Each registry's circuit, by name, for `/readyz`.
    pub fn circuits(&self) -> Vec<(&'static str, Arc<Circuit>)> {
        vec![
            ("national_id", self.national_id.circuit()),
            ("commercial_register", self.commercial_register.circuit()),
            ("real_estate", self.real_estate.circuit()),
            ("security", self.security.circuit()),
            ("smsc", self.smsc.circuit()),
        ]
    }
}

/// What the SMS endpoints need besides the store.
pub struct SmsConfig {
    pub templates: crate::sms::Templates,
    pub max_segments: usize,
    pub smsc_secret: String,
    pub acceptor: crate::sms::SmsAcceptor,
}

pub struct AppState {
    pub sms: SmsConfig,
    pub clients: ClientRegistry,
    pub policy: PurposePolicy,
    pub tokens: TokenService,
    pub rate: RateLimits,
    pub audit: AuditLog,
    /// Public keys whose checkpoint signatures `/v1/audit/integrity` accepts.
    pub audit_keys: crate::audit::TrustedKeys,
    pub metrics: Arc<Metrics>,
    pub registries: Registries,
    /// Signs receipts and holds the published trust list.
    pub receipts: Arc<crate::receipts::Receipts>,
    /// Citizens asking 5960 about their data (CONTRACT §12).
    pub citizens: crate::citizens::Citizens,
    /// The claim-guessing stop (CONTRACT §13).
    pub guessing: crate::verify::guessing::GuessStop,
    /// Thresholds and working hours of `/v1/audit/signals`.
    pub signals: crate::audit::signals::SignalRules,
}
