//! TLS with rustls, both ways: the API listener (TLS 1.2 and 1.3 only) and the
//! registry clients (a CA bundle per connector, optional client certificate).

use crate::config::RegistrySettings;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}: {1}")]
    File(String, String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File(path.display().to_string(), e.to_string()))
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File(path.display().to_string(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::File(path.display().to_string(), "no certificate in file".into()));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::File(path.display().to_string(), e.to_string()))
}

/// The API listener's configuration.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let mut config =
        rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .with_no_client_auth()
            .with_single_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// An HTTP client for one registry: rustls, its CA bundle when configured
/// (instead of the system roots), and its client certificate for mutual TLS.
pub fn registry_client(settings: &RegistrySettings) -> Result<reqwest::Client, TlsError> {
    let mut builder = reqwest::Client::builder()
        // Never follow a redirect: the request (a citizen's national ID) and
        // the client certificate go to the configured registry and nowhere
        // else; a 3xx is that registry's failure (CONTRACT §5).
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(settings.max_concurrency)
        .connect_timeout(std::time::Duration::from_millis(settings.timeout_ms))
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .user_agent(concat!("bawaba/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &settings.ca_bundle {
        let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
            .map_err(|e| TlsError::File(ca.display().to_string(), e.to_string()))?;
        builder = builder.tls_certs_only(certs);
    }
    if let (Some(cert), Some(key)) = (&settings.client_cert, &settings.client_key) {
        let mut pem = read(cert)?;
        pem.extend_from_slice(b"\n");
        pem.extend_from_slice(&read(key)?);
        let identity =
            reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::File(cert.display().to_string(), e.to_string()))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| TlsError::Config(e.to_string()))
}
