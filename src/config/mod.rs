//! Configuration in layers: the embedded default (`config/bawaba.toml`) → the
//! file given on the command line → `BAWABA__SECTION__KEY` environment
//! variables. Unknown keys are errors, and validation reports every problem at
//! once, each naming the key, the value and the fix.

mod citizens;
mod clients;
mod issuers;
mod layers;
mod purposes;
mod signals;
mod verify;

pub use citizens::CitizensSettings;
pub use clients::{ClientConfig, ClientsFile, EGYPT_WORKING_WEEK, parse_working_days, parse_working_hours};
pub use issuers::{ISSUER_ALGORITHMS, IssuerSettings, is_key_url};
pub use layers::{ConfigProblem, Problems, parse_file};
pub use purposes::PurposesFile;
pub use signals::SignalsSettings;
pub use verify::VerifySettings;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The embedded default configuration: what `cargo run --release` runs on.
pub const DEFAULT_TOML: &str = include_str!("../../config/bawaba.toml");
pub const DEFAULT_CLIENTS_TOML: &str = include_str!("../../config/clients.toml");
pub const DEFAULT_PURPOSES_TOML: &str = include_str!("../../config/purposes.toml");
pub const DEFAULT_SMS_TEMPLATES_TOML: &str = include_str!("../../config/sms_templates.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub sandbox: SandboxSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub sms: SmsSettings,
    pub audit: AuditSettings,
    pub receipts: ReceiptsSettings,
    pub citizens: CitizensSettings,
    pub verify: VerifySettings,
    pub signals: SignalsSettings,
    pub registries: BTreeMap<String, RegistrySettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// PEM certificate chain and key: when both are set the API is served over
    /// TLS 1.2/1.3 (rustls).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A client must send its request head, and then its body, each within
    /// this long (408 and the connection closed otherwise).
    pub client_request_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this long.
    pub keep_alive_seconds: u64,
    /// On SIGTERM or SIGINT the process exits within this long: readiness
    /// turns `not_ready` at once, calls in flight finish, the audit queue is
    /// committed (CONTRACT §14).
    pub shutdown_grace_seconds: u64,
    /// The first part of the grace period during which new connections are
    /// still accepted and served (readiness saying `not_ready`), so that a
    /// load balancer that checks readiness stops sending first.
    pub shutdown_drain_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StoreSettings {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
    /// Most audit events committed in one transaction (group commit).
    pub max_batch: usize,
    /// How long a store operation may wait for a lock before the store counts as down.
    pub busy_timeout_ms: u64,
    /// SQLite only: `full` (a commit is on disk before the answer: survives
    /// power loss) or `normal` (WAL without fsync per commit: survives a
    /// process crash, may lose the last commits on power loss).
    pub sqlite_synchronous: String,
    /// PostgreSQL only: connections in this replica's pool.
    pub max_connections: u32,
    /// How long a replica holds a claimed SMS or security check before another
    /// replica may take it over (it died, or its call is hanging).
    pub lease_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuditSettings {
    /// The gateway's Ed25519 key (PKCS#8 PEM) that signs checkpoints of the
    /// audit chain and archives. Generated on first start when absent. Every
    /// replica must use the same key, or list the others' public keys below.
    /// Keep it outside the database: whoever can rewrite the log must not also
    /// be able to re-sign it.
    pub checkpoint_key_file: PathBuf,
    /// Public keys (SPKI PEM) whose checkpoints `audit verify` also trusts
    /// (earlier keys, other replicas' keys).
    pub trusted_public_keys: Vec<PathBuf>,
    /// A checkpoint is signed at least every this many events…
    pub checkpoint_every: i64,
    /// …and, when the log has grown, at least this often.
    pub checkpoint_interval_seconds: u64,
    /// Events older than this are what `bawaba audit archive` moves to a
    /// signed archive file (0: keep everything in the live store).
    pub retention_days: u64,
    /// Where `bawaba audit archive` writes archive files.
    pub archive_dir: PathBuf,
}

/// Signed verification receipts (CONTRACT §11).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReceiptsSettings {
    /// PKCS#8 PEM P-256 keys (ES256) that sign receipts: the last one signs,
    /// all verify. Generated (one key, mode 0600) on first start when absent.
    /// Outside the database, the same file on every replica.
    pub key_file: PathBuf,
    /// A receipt is valid this many days after it was issued.
    pub valid_days: u32,
    /// `POST /receipts/verify` per source address: per second, and burst.
    pub verify_rate_per_second: u32,
    pub verify_rate_burst: u32,
    /// How often expired receipts are deleted and the published keys renewed.
    pub cleanup_interval_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SandboxSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub token_ttl_seconds: u64,
    pub clients_file: PathBuf,
    pub purposes_file: PathBuf,
    /// A PKCS#8 PEM P-256 key to sign tokens with. When absent, the gateway
    /// generates one on first start and keeps it in the store, where every
    /// replica finds it.
    pub signing_key_file: Option<PathBuf>,
    /// `/oauth/token` requests per second per source address, and burst.
    pub token_rate_per_second: u32,
    pub token_rate_burst: u32,
    /// `auth.denied` audit events recorded per minute per source address (so
    /// junk cannot flood the log); further 401s are answered but not recorded.
    pub denied_audit_per_minute: u32,
    /// External OpenID Connect issuers whose tokens are accepted (`[[auth.issuers]]`).
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSettings {
    /// A tracing filter, e.g. `info` or `bawaba=debug,info`.
    pub level: String,
    /// `json` or `pretty`.
    pub format: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP (protobuf) traces endpoint of a collector, e.g.
    /// `http://127.0.0.1:4318/v1/traces`; empty: no trace export.
    pub otlp_endpoint: String,
}

/// Why `telemetry.otlp_endpoint` is not usable, if it is not.
pub fn otlp_endpoint_problem(endpoint: &str) -> Option<&'static str> {
    if endpoint.is_empty() {
        return None;
    }
    match url::Url::parse(endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => None,
        _ => Some(
            "must be the http:// or https:// URL of a collector's OTLP traces endpoint \
             (e.g. http://127.0.0.1:4318/v1/traces), or empty for no export",
        ),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SmsSettings {
    pub templates_file: PathBuf,
    /// The short code messages are sent from.
    pub sender: String,
    /// Most segments one message may take.
    pub max_segments: usize,
    /// Most messages a second handed to the SMSC.
    pub messages_per_second: u32,
    /// A message the SMSC has not accepted this long after it was queued fails.
    pub give_up_after_seconds: u64,
    /// The secret the SMSC signs delivery reports and inbound messages with.
    pub smsc_secret: String,
}

/// The one resilience block every registry embeds (with its own defaults).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RegistrySettings {
    /// Defaults to the embedded sandbox's address.
    pub base_url: Option<String>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_elapsed_ms: u64,
    pub circuit_failure_threshold: u32,
    pub circuit_open_ms: u64,
    pub max_concurrency: usize,
    pub cache_ttl_seconds: u64,
    pub not_found_ttl_seconds: u64,
    pub stale_seconds: u64,
    pub cache_capacity: u64,
    /// PEM bundle of the CAs trusted for this registry (instead of the system roots).
    pub ca_bundle: Option<PathBuf>,
    /// PEM client certificate chain and key for mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

const MISSING_FILE_FIX: &str = "give the path of an existing file, or remove the key";

/// The registries this build knows; each must have a settings block.
pub const REGISTRIES: &[&str] = &["national_id", "commercial_register", "real_estate", "security", "smsc"];

impl Settings {
    /// Loads defaults → `file` (if any) → environment, and validates the whole.
    pub fn load(file: Option<&Path>) -> Result<Settings, Problems> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Settings, Problems> {
        match Self::load_checked(file, env) {
            (Some(settings), problems) if problems.0.is_empty() => Ok(settings),
            (_, problems) => Err(problems),
        }
    }

    /// Every problem of the layers, and the settings with each wrong value
    /// replaced by its default (None when even that does not make settings),
    /// so that `check-config` can go on to check the files they name.
    pub fn load_checked(file: Option<&Path>, env: &[(String, String)]) -> (Option<Settings>, Problems) {
        let (merged, mut problems) = layers::merge(DEFAULT_TOML, file, env);
        // Unknown keys are collected by `serde_ignored` rather than
        // `deny_unknown_fields`, and wrong values are replaced by their
        // defaults to go on, so that all of them are reported at once.
        let defaults: toml::Table = DEFAULT_TOML.parse().unwrap_or_default();
        let (settings, more) = layers::deserialize::<Settings>(&merged, Some(&defaults));
        problems.extend(more);
        if let Some(settings) = &settings
            && let Err(more) = settings.validate()
        {
            problems.extend(more);
        }
        (settings, problems)
    }

    fn validate(&self) -> Result<(), Problems> {
        let mut p = Problems::default();
        self.citizens.validate(&mut p);
        self.verify.validate(&mut p);
        self.signals.validate(&mut p);
        let url = &self.store.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            p.push("store.url", &redacted(url), "must start with sqlite:// or postgres://");
        }
        if !matches!(self.store.sqlite_synchronous.as_str(), "full" | "normal") {
            p.push("store.sqlite_synchronous", &self.store.sqlite_synchronous, "must be full or normal");
        }
        if self.store.max_connections == 0 {
            p.push("store.max_connections", "0", "must be at least 1");
        }
        if self.store.lease_seconds < 5 {
            p.push(
                "store.lease_seconds",
                &self.store.lease_seconds.to_string(),
                "must be at least 5 (longer than one registry call with its retries)",
            );
        }
        if self.audit.checkpoint_every < 1 {
            p.push("audit.checkpoint_every", &self.audit.checkpoint_every.to_string(), "must be at least 1");
        }
        if self.audit.checkpoint_interval_seconds == 0 {
            p.push("audit.checkpoint_interval_seconds", "0", "must be at least 1");
        }
        if !(1..=3650).contains(&self.receipts.valid_days) {
            p.push("receipts.valid_days", &self.receipts.valid_days.to_string(), "must be 1 to 3650");
        }
        for (key, value) in [
            ("receipts.verify_rate_per_second", self.receipts.verify_rate_per_second),
            ("receipts.verify_rate_burst", self.receipts.verify_rate_burst),
        ] {
            if value == 0 {
                p.push(key, "0", "must be at least 1");
            }
        }
        if self.receipts.cleanup_interval_seconds == 0 {
            p.push("receipts.cleanup_interval_seconds", "0", "must be at least 1");
        }
        for path in &self.audit.trusted_public_keys {
            if !path.exists() {
                p.push_fix(
                    "audit.trusted_public_keys",
                    &path.display().to_string(),
                    "file does not exist",
                    MISSING_FILE_FIX,
                );
            }
        }
        if self.server.client_request_timeout_ms == 0 {
            p.push(
                "server.client_request_timeout_ms",
                "0",
                "must be at least 1 (a client must send its request in time)",
            );
        }
        if !(1..=3600).contains(&self.server.shutdown_grace_seconds) {
            p.push(
                "server.shutdown_grace_seconds",
                &self.server.shutdown_grace_seconds.to_string(),
                "must be between 1 and 3600",
            );
        } else if self.server.shutdown_drain_seconds >= self.server.shutdown_grace_seconds {
            p.push(
                "server.shutdown_drain_seconds",
                &self.server.shutdown_drain_seconds.to_string(),
                "must be less than server.shutdown_grace_seconds (calls in flight need time to finish)",
            );
        }
        if self.store.max_batch == 0 {
            p.push("store.max_batch", "0", "must be at least 1");
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            p.push("server.tls_cert", "(one of two)", "set both server.tls_cert and server.tls_key, or neither");
        }
        for (key, path) in [
            ("server.tls_cert", &self.server.tls_cert),
            ("server.tls_key", &self.server.tls_key),
            ("auth.signing_key_file", &self.auth.signing_key_file),
        ] {
            if let Some(path) = path
                && !path.exists()
            {
                p.push_fix(key, &path.display().to_string(), "file does not exist", MISSING_FILE_FIX);
            }
        }
        if self.auth.token_ttl_seconds == 0 || self.auth.token_ttl_seconds > 900 {
            p.push(
                "auth.token_ttl_seconds",
                &self.auth.token_ttl_seconds.to_string(),
                "must be between 1 and 900 (tokens live at most 15 minutes)",
            );
        }
        if self.auth.token_rate_per_second == 0 || self.auth.token_rate_burst == 0 {
            p.push("auth.token_rate_per_second", "0", "rates must be at least 1");
        }
        if self.auth.denied_audit_per_minute == 0 {
            p.push("auth.denied_audit_per_minute", "0", "must be at least 1");
        }
        issuers::validate(&self.auth.issuers, &mut p);
        if self.sms.max_segments == 0 || self.sms.max_segments > 10 {
            p.push("sms.max_segments", &self.sms.max_segments.to_string(), "must be between 1 and 10");
        }
        if self.sms.messages_per_second == 0 {
            p.push("sms.messages_per_second", "0", "must be at least 1");
        }
        if self.sms.smsc_secret.len() < 16 {
            p.push("sms.smsc_secret", "(hidden)", "must be at least 16 characters");
        }
        if self.sms.sender.is_empty() || !self.sms.sender.bytes().all(|b| b.is_ascii_alphanumeric()) {
            p.push("sms.sender", &self.sms.sender, "must be a short code or alphanumeric sender");
        }
        if let Some(fix) = otlp_endpoint_problem(&self.telemetry.otlp_endpoint) {
            p.push("telemetry.otlp_endpoint", &self.telemetry.otlp_endpoint, fix);
        }
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            p.push("log.format", &self.log.format, "must be json or pretty");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            p.push("log.level", &self.log.level, "is not a valid tracing filter");
        }
        for name in REGISTRIES {
            if !self.registries.contains_key(*name) {
                p.push(&format!("registries.{name}"), "(missing)", "every registry needs a settings block");
            }
        }
        for (name, r) in &self.registries {
            let key = |k: &str| format!("registries.{name}.{k}");
            if !REGISTRIES.contains(&name.as_str()) {
                p.push(
                    &format!("registries.{name}"),
                    name,
                    &format!("unknown registry; known: {}", REGISTRIES.join(", ")),
                );
            }
            if let Some(url) = &r.base_url
                && reqwest::Url::parse(url).is_err()
            {
                p.push(&key("base_url"), url, "is not a URL");
            }
            for (k, v) in [
                ("timeout_ms", r.timeout_ms),
                ("backoff_initial_ms", r.backoff_initial_ms),
                ("circuit_open_ms", r.circuit_open_ms),
                ("cache_capacity", r.cache_capacity),
            ] {
                if v == 0 {
                    p.push(&key(k), "0", "must be at least 1");
                }
            }
            if r.max_attempts == 0 {
                p.push(&key("max_attempts"), "0", "must be at least 1");
            }
            if r.circuit_failure_threshold == 0 {
                p.push(&key("circuit_failure_threshold"), "0", "must be at least 1");
            }
            if r.max_concurrency == 0 {
                p.push(&key("max_concurrency"), "0", "must be at least 1");
            }
            if r.client_cert.is_some() != r.client_key.is_some() {
                p.push(&key("client_cert"), "(one of two)", "set both client_cert and client_key, or neither");
            }
            for (k, path) in
                [("ca_bundle", &r.ca_bundle), ("client_cert", &r.client_cert), ("client_key", &r.client_key)]
            {
                if let Some(path) = path
                    && !path.exists()
                {
                    p.push_fix(&key(k), &path.display().to_string(), "file does not exist", MISSING_FILE_FIX);
                }
            }
        }
        p.into_result()
    }

    /// The base URL of one registry: its own setting, or the sandbox's address.
    pub fn registry_base_url(&self, name: &str, sandbox_addr: SocketAddr) -> String {
        self.registries.get(name).and_then(|r| r.base_url.clone()).unwrap_or_else(|| format!("http://{sandbox_addr}"))
    }
}

/// A URL as it may be shown in an error: without its password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Reads a file named in configuration, or the embedded copy when the path is
/// the default one and the file is absent (a binary run outside the repository).
pub fn read_config_file(path: &Path, embedded: &str, default_path: &str) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == Path::new(default_path) => {
            Ok(embedded.to_owned())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_store_url_in_an_error_shows_no_password() {
        assert_eq!(redacted("mysql://bawaba:s3cret@db/bawaba"), "mysql://bawaba:***@db/bawaba");
        assert_eq!(redacted("mysql://db/bawaba"), "mysql://db/bawaba");
        let problems = Settings::load_from(None, &env(&[("BAWABA__STORE__URL", "mysql://u:s3cret@db/x")])).unwrap_err();
        assert!(!problems.to_string().contains("s3cret"), "{problems}");
    }

    #[test]
    fn the_embedded_default_is_valid() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sandbox.listen.to_string(), "127.0.0.1:8090");
        assert_eq!(s.store.url, "sqlite://data/bawaba.db");
        assert!(s.sandbox.enabled);
        assert_eq!(s.registries["national_id"].cache_ttl_seconds, 3600);
    }

    #[test]
    fn environment_variables_override_nested_keys() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("BAWABA__SERVER__LISTEN", "127.0.0.1:8081"),
                ("BAWABA__SANDBOX__ENABLED", "false"),
                ("BAWABA__REGISTRIES__NATIONAL_ID__TIMEOUT_MS", "750"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen.port(), 8081);
        assert!(!s.sandbox.enabled);
        assert_eq!(s.registries["national_id"].timeout_ms, 750);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = Settings::load_from(
            None,
            &env(&[
                ("BAWABA__SERVER__LISTNE", "x"),
                ("BAWABA__STORE__URL", "mysql://x"),
                ("BAWABA__LOG__FORMAT", "xml"),
                ("BAWABA__REGISTRIES__NATIONAL_ID__MAX_ATTEMPTS", "0"),
            ]),
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["server.listne", "store.url", "log.format", "registries.national_id.max_attempts"]);
    }

    #[test]
    fn every_value_of_the_wrong_type_is_reported_with_its_reason() {
        let problems = Settings::load_from(
            None,
            &env(&[
                ("BAWABA__SERVER__WORKERS", "many"),
                ("BAWABA__REGISTRIES__REAL_ESTATE__TIMEOUT_MS", "2s"),
                ("BAWABA__SANDBOX__ENABLED", "yes"),
                ("BAWABA__LOG__FORMAT", "xml"),
            ]),
        )
        .unwrap_err();
        let found: Vec<(&str, &str)> = problems.0.iter().map(|p| (p.key.as_str(), p.why.as_str())).collect();
        assert_eq!(
            found,
            [
                (
                    "registries.real_estate.timeout_ms",
                    "expected a positive integer (set by BAWABA__REGISTRIES__REAL_ESTATE__TIMEOUT_MS)"
                ),
                ("sandbox.enabled", "expected true or false (set by BAWABA__SANDBOX__ENABLED)"),
                ("server.workers", "expected a positive integer (set by BAWABA__SERVER__WORKERS)"),
                ("log.format", "must be json or pretty"),
            ]
        );
        assert!(problems.0.iter().take(3).all(|p| !p.fix.is_empty()));
    }

    #[test]
    fn a_numeric_environment_value_is_a_string_where_a_string_is_expected() {
        let s = Settings::load_from(None, &env(&[("BAWABA__SMS__SMSC_SECRET", "12345678901234567890")])).unwrap();
        assert_eq!(s.sms.smsc_secret, "12345678901234567890");
    }

    #[test]
    fn the_shutdown_drain_must_leave_time_within_the_grace_period() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!((s.server.shutdown_grace_seconds, s.server.shutdown_drain_seconds), (10, 2));
        let problems = Settings::load_from(
            None,
            &env(&[("BAWABA__SERVER__SHUTDOWN_GRACE_SECONDS", "5"), ("BAWABA__SERVER__SHUTDOWN_DRAIN_SECONDS", "5")]),
        )
        .unwrap_err();
        assert_eq!(problems.0[0].key, "server.shutdown_drain_seconds");
        let problems = Settings::load_from(None, &env(&[("BAWABA__SERVER__SHUTDOWN_GRACE_SECONDS", "0")])).unwrap_err();
        assert_eq!(problems.0[0].key, "server.shutdown_grace_seconds");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let problems = Settings::load_from(None, &env(&[("BAWABA__SERVER__LISTEN", "not-an-address")])).unwrap_err();
        assert_eq!(problems.0[0].key, "server.listen");
    }

    #[test]
    fn an_otlp_endpoint_is_empty_or_an_http_url() {
        assert_eq!(otlp_endpoint_problem(""), None);
        assert_eq!(otlp_endpoint_problem("http://127.0.0.1:4318/v1/traces"), None);
        assert_eq!(otlp_endpoint_problem("https://collector.example/v1/traces"), None);
        for bad in ["127.0.0.1:4318", "grpc://collector:4317", "file:///tmp/x", "http://", "not a url"] {
            assert!(otlp_endpoint_problem(bad).is_some(), "{bad}");
        }
        let problems = Settings::load_from(None, &env(&[("BAWABA__TELEMETRY__OTLP_ENDPOINT", "udp://x")])).unwrap_err();
        let text = problems.to_string();
        assert!(text.contains("telemetry.otlp_endpoint") && text.contains("OTLP traces endpoint"), "{text}");
    }
}
