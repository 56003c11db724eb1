//! The audit append on PostgreSQL: one connection of its own, with
//! `TCP_NODELAY`.
//!
//! sqlx 0.9.0 sets no `TCP_NODELAY` on its sockets. A batch's statement is
//! larger than one TLS record (16 KiB), so it leaves in two writes, and Nagle's
//! algorithm holds the second until the first is acknowledged, which the
//! server delays by up to 40 ms: 1.6k durable events/s over TLS on the
//! loopback. `tokio-postgres` sets `TCP_NODELAY` on every connection, so the
//! audit writer's one statement per batch ([`super::postgres::APPEND`]) goes
//! through it; every other query stays on the sqlx pool.
//!
//! TLS follows the store URL's `sslmode` as sqlx (and libpq) read it:
//! `disable`; `prefer` (the default) and `require` encrypt without checking the
//! certificate; `verify-ca` checks it against `sslrootcert`, `verify-full`
//! also the host name. A URL with parameters this path does not know is left
//! to the pool (said once at start).

use super::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::SslMode;

/// How the audit connection reaches the server.
#[derive(Clone)]
pub struct PgAuditTarget {
    config: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// The `sslmode` values of libpq, as sqlx reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgAuditTarget {
    /// The audit connection's settings from the store URL; `Err` says why the
    /// URL is left to the pool.
    pub fn from_url(url: &str) -> Result<PgAuditTarget, String> {
        let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        let mut mode = Mode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "sslmode" | "ssl-mode" => {
                    mode = match v.as_ref() {
                        "disable" => Mode::Disable,
                        "allow" | "prefer" => Mode::Prefer,
                        "require" => Mode::Require,
                        "verify-ca" => Mode::VerifyCa,
                        "verify-full" => Mode::VerifyFull,
                        other => return Err(format!("sslmode {other}")),
                    }
                }
                "sslrootcert" | "ssl-root-cert" => root_cert = Some(v.into_owned()),
                "application_name" | "options" | "connect_timeout" => kept.push((k.into_owned(), v.into_owned())),
                other => return Err(format!("parameter {other}")),
            }
        }
        parsed.set_query(None);
        if !kept.is_empty() {
            parsed.query_pairs_mut().extend_pairs(kept);
        }
        let mut config: tokio_postgres::Config = parsed.as_str().parse().map_err(|e: tokio_postgres::Error| {
            // The parser's message never repeats a password.
            e.to_string()
        })?;
        if config.get_application_name().is_none() {
            config.application_name("bawaba-audit");
        }
        config.ssl_mode(match mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        let tls = match mode {
            Mode::Disable => None,
            Mode::Prefer | Mode::Require => Some(client_config(Arc::new(AnyCertificate::new()))),
            Mode::VerifyCa | Mode::VerifyFull => {
                let path = root_cert.ok_or("sslmode verify-ca/verify-full without sslrootcert")?;
                let pem = std::fs::read(&path).map_err(|e| format!("sslrootcert: {e}"))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile_certs(&pem)? {
                    roots.add(cert).map_err(|e| format!("sslrootcert: {e}"))?;
                }
                let webpki = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| format!("sslrootcert: {e}"))?;
                Some(client_config(Arc::new(Verified { inner: webpki, check_name: mode == Mode::VerifyFull })))
            }
        };
        Ok(PgAuditTarget { config, tls })
    }

    /// A new connection; its driver runs on the current runtime until the
    /// client is dropped or the connection breaks.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let client = match &self.tls {
            None => {
                let (client, conn) = self.config.connect(tokio_postgres::NoTls).await.map_err(pg_error)?;
                tokio::spawn(drive(conn));
                client
            }
            Some(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, conn) = self.config.connect(make).await.map_err(pg_error)?;
                tokio::spawn(drive(conn));
                client
            }
        };
        Ok(client)
    }
}

async fn drive<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "audit connection to PostgreSQL closed");
    }
}

pub fn pg_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Pg(e.to_string())
}

fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder().dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth(),
    )
}

fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| format!("sslrootcert: {e}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// `prefer` and `require`: encrypted, certificate not checked (as libpq and
/// sqlx do); the handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl AnyCertificate {
    fn new() -> AnyCertificate {
        AnyCertificate { provider: provider() }
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (chain to `sslrootcert`) and `verify-full` (and the host name).
#[derive(Debug)]
struct Verified {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. }))
                if !self.check_name =>
            {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_encrypts_without_checking_like_sqlx() {
        let t = PgAuditTarget::from_url("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert!(t.tls.is_some());
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(t.config.get_dbname(), Some("test"));
    }

    #[test]
    fn sslmode_disable_has_no_tls() {
        let t = PgAuditTarget::from_url("postgresql://u:secret@db.example:6432/bawaba?sslmode=disable").unwrap();
        assert!(t.tls.is_none());
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(t.config.get_ports(), &[6432]);
    }

    #[test]
    fn verify_full_needs_a_root_certificate() {
        let e = PgAuditTarget::from_url("postgres://u@db/x?sslmode=verify-full").err().unwrap();
        assert!(e.contains("sslrootcert"), "{e}");
    }

    #[test]
    fn unknown_parameters_are_left_to_the_pool_and_named() {
        let e = PgAuditTarget::from_url("postgres://u@db/x?statement-cache-capacity=10").err().unwrap();
        assert_eq!(e, "parameter statement-cache-capacity");
    }
}
