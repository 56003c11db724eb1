//! Everything a handler may use, built once per application.

use crate::audit::AuditLog;
use crate::auth::{ClientRegistry, PurposePolicy, RateLimits, TokenService};
use crate::metrics::Metrics;
use crate::resilience::{Circuit, Resilient};
use connectors::national_id::NationalIdRegistry;
use std::sync::Arc;

pub struct Registries {
    pub national_id: Resilient<NationalIdRegistry>,
}

impl Registries {
    /// Each registry's circuit, by name, for `/readyz`.
    pub fn circuits(&self) -> Vec<(&'static str, Arc<Circuit>)> {
        use connectors::Registry;
        vec![(NationalIdRegistry::NAME, self.national_id.circuit())]
    }
}

pub struct AppState {
    pub clients: ClientRegistry,
    pub policy: PurposePolicy,
    pub tokens: TokenService,
    pub rate: RateLimits,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
    pub registries: Registries,
}
