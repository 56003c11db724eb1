//! The command line: `serve` (the default), `sandbox`, `check-config`,
//! `audit verify | export | archive`, `clients hash-secret`, `receipt verify`,
//! `store backup`, `keys rotate`.

use crate::app::{Application, hardening_problems, load_settings};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "bawaba", version, about = "The gateway between citizen-service centers and the national registries")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway (the default command).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the registry simulators alone.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Validate the configuration: exit 0, or print every problem and exit 2.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Client tools.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Verification receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Store tools.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key: it signs from now on (running gateways take it up
    /// within seconds), the old ones still verify what they signed.
    Rotate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = crate::cli_keys::KeyKind::Token)]
        key: crate::cli_keys::KeyKind,
        /// Token key only: seconds until the new key signs, so that every
        /// replica publishes it first (default 15, three key reloads).
        #[arg(long)]
        activate_after_seconds: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Write a consistent copy of a SQLite store while it takes writes (for
    /// PostgreSQL use pg_dump: see the README). Never overwrites a file.
    Backup {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The new file to write.
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReceiptCommand {
    /// Verify a receipt's code offline: exit 0 genuine, 1 not.
    Verify {
        /// The QR's text (`BW1:…`), or `-` to read it from stdin.
        code: String,
        /// The trust list: a saved /.well-known/bawaba-receipt-keys.json, or a
        /// PEM key bundle. Default: the configured receipts.key_file.
        #[arg(long)]
        keys: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Re-compute the audit chain and check its signed checkpoints (and any
    /// archives): exit 0 intact, 1 broken (prints the first bad sequence number).
    Verify {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Trust only these public keys (PEM), e.g. the auditors' own copy,
        /// instead of the configured checkpoint key.
        #[arg(long = "public-key")]
        public_keys: Vec<PathBuf>,
        /// Archive files written by `audit archive`, oldest first.
        #[arg(long = "archive")]
        archives: Vec<PathBuf>,
    },
    /// Stream the audit log (every filter of /v1/audit/events) as CSV or NDJSON.
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        format: String,
        #[command(flatten)]
        filters: Box<crate::cli_audit::FilterArgs>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The monthly center report: statistics per center, ranked, and the
    /// month's signals, as CSV or one printable HTML page (Arabic first).
    Report {
        #[arg(long)]
        config: Option<PathBuf>,
        /// `YYYY-MM` (UTC).
        #[arg(long)]
        month: String,
        #[arg(long)]
        format: String,
        /// Only this center.
        #[arg(long)]
        center_id: Option<String>,
        /// Only the centers of this governorate (`SHR`: the center IDs `SHR-…`).
        #[arg(long)]
        governorate: Option<String>,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Move events older than audit.retention_days to a signed archive file.
    Archive {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides audit.retention_days.
        #[arg(long)]
        older_than_days: Option<u64>,
        /// Overrides audit.archive_dir.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Read a secret on stdin and print its argon2 hash for the clients file.
    HashSecret,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bawaba: {message}");
    ExitCode::from(2)
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::Serve { config } => serve(config).await,
        Command::Sandbox { listen } => sandbox(listen).await,
        Command::CheckConfig { config } => check_config(config).await,
        Command::Audit { command: AuditCommand::Verify { config, public_keys, archives } } => {
            crate::cli_audit::verify(config, public_keys, archives).await
        }
        Command::Audit { command: AuditCommand::Export { config, format, filters, output } } => {
            crate::cli_audit::export(config, format, *filters, output).await
        }
        Command::Audit { command: AuditCommand::Report { config, month, format, center_id, governorate, output } } => {
            crate::cli_audit::report(config, month, format, center_id, governorate, output).await
        }
        Command::Audit { command: AuditCommand::Archive { config, older_than_days, dir } } => {
            crate::cli_audit::archive(config, older_than_days, dir).await
        }
        Command::Clients { command: ClientsCommand::HashSecret } => hash_secret(),
        Command::Receipt { command: ReceiptCommand::Verify { code, keys, config } } => {
            crate::cli_receipt::verify(code, keys, config)
        }
        Command::Store { command: StoreCommand::Backup { config, output } } => {
            crate::cli_store::backup(config, output).await
        }
        Command::Keys { command: KeysCommand::Rotate { config, key, activate_after_seconds } } => {
            crate::cli_keys::rotate(config, key, activate_after_seconds).await
        }
    }
}

async fn serve(config: Option<PathBuf>) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(problems) => return fail(format!("invalid configuration:\n{problems}")),
    };
    let files = file_problems(&settings);
    if !files.0.is_empty() {
        return fail(format!("invalid configuration:\n{files}"));
    }
    let export =
        crate::telemetry::init_exporting(&settings.log.level, &settings.log.format, &settings.telemetry.otlp_endpoint);
    match hardening_problems(&settings) {
        Ok(problems) if !problems.is_empty() => return fail(format!("refusing to start: {}", problems.join("; "))),
        Ok(_) => {}
        Err(e) => return fail(e),
    }
    // Before anything is built: a signal during start-up is handled too.
    let signals = match crate::shutdown::Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install signal handlers: {e}")),
    };
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(format!("cannot start: {e:#}")),
    };
    tracing::info!(api = %app.base_url(), sandbox = ?app.sandbox_addr, "bawaba serving");
    let code = app.serve_until_signal(signals).await;
    if let Some(export) = export {
        export.shutdown().await;
    }
    code
}

async fn sandbox(listen: SocketAddr) -> ExitCode {
    crate::telemetry::init("info", "json");
    let mut signals = match crate::shutdown::Signals::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot install signal handlers: {e}")),
    };
    let sandbox = connectors::sandbox::Sandbox::new(None);
    match sandbox.bind(listen).await {
        Ok((addr, serve)) => {
            tracing::info!(%addr, "sandbox registries serving");
            tokio::select! {
                _ = serve => {}
                _ = signals.next() => {}
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("sandbox --listen {listen}: {e}")),
    }
}

/// Validates the configuration as `serve` would, and prints every problem at
/// once: of the layers (file, environment), of the files they name, and the
/// hardening rules of a public address.
async fn check_config(config: Option<PathBuf>) -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let default = std::path::Path::new("config/bawaba.toml");
    let file = config.as_deref().or_else(|| default.exists().then_some(default));
    let (settings, mut problems) = crate::config::Settings::load_checked(file, &env);
    let mut hardening = Vec::new();
    if let Some(settings) = &settings {
        let files = file_problems(settings);
        let files_ok = files.0.is_empty();
        problems.extend(files);
        match hardening_problems(settings) {
            // A clients file it cannot read is already reported above.
            Ok(p) => hardening.extend(p.into_iter().filter(|p| files_ok || !p.starts_with("auth.clients_file"))),
            Err(e) => hardening.push(e.to_string()),
        }
    }
    if let Some(settings) = &settings {
        // An issuer that cannot be reached now may be later: a warning only.
        for warning in issuer_warnings(&settings.auth.issuers).await {
            eprintln!("warning: {warning}");
        }
    }
    if problems.0.is_empty() && hardening.is_empty() {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    eprint!("{problems}");
    for p in hardening {
        eprintln!("{p}");
    }
    ExitCode::from(2)
}

/// What `serve` would refuse in the files the settings name: the clients,
/// purposes and templates files, the TLS certificate and key, the token
/// signing key, the registries' CA bundles and client certificates, and the
/// trusted checkpoint keys. (A missing file is already a settings problem.)
pub fn file_problems(settings: &crate::config::Settings) -> crate::config::Problems {
    use crate::config::{self as cfg, Problems};
    let mut p = Problems::default();
    let mut referenced = |key: &str, path: &std::path::Path, embedded: &str, default: &str| match cfg::read_config_file(
        path, embedded, default,
    ) {
        Ok(text) => Some(text),
        Err(e) => {
            p.push_fix(key, &path.display().to_string(), &format!("cannot be read: {e}"), "check the path");
            None
        }
    };
    let clients =
        referenced("auth.clients_file", &settings.auth.clients_file, cfg::DEFAULT_CLIENTS_TOML, "config/clients.toml");
    let purposes = referenced(
        "auth.purposes_file",
        &settings.auth.purposes_file,
        cfg::DEFAULT_PURPOSES_TOML,
        "config/purposes.toml",
    );
    let templates = referenced(
        "sms.templates_file",
        &settings.sms.templates_file,
        cfg::DEFAULT_SMS_TEMPLATES_TOML,
        "config/sms_templates.toml",
    );
    if let Some(text) = clients
        && let Err(more) = cfg::ClientsFile::parse_for(
            &text,
            &settings.auth.clients_file.display().to_string(),
            Some(&settings.auth.issuers),
        )
    {
        p.extend(more);
    }
    if let Some(text) = purposes
        && let Err(more) = cfg::PurposesFile::parse(&text, &settings.auth.purposes_file.display().to_string())
    {
        p.extend(more);
    }
    if let Some(text) = templates
        && let Err(more) = crate::sms::Templates::parse(&text, &settings.sms.templates_file.display().to_string())
    {
        p.extend(more);
    }
    if let (Some(cert), Some(key)) = (&settings.server.tls_cert, &settings.server.tls_key)
        && cert.exists()
        && key.exists()
        && let Err(e) = crate::tls::server_config(cert, key)
    {
        p.push_fix(
            "server.tls_cert",
            &cert.display().to_string(),
            &format!("is not a usable certificate and key: {e}"),
            "give a PEM certificate chain and its PEM private key",
        );
    }
    if let Some(path) = &settings.auth.signing_key_file
        && path.exists()
    {
        let pem = std::fs::read_to_string(path).map_err(|e| e.to_string());
        if let Err(e) =
            pem.and_then(|pem| crate::auth::KeyRing::from_pems(&[pem]).map(|_| ()).map_err(|e| e.to_string()))
        {
            p.push_fix(
                "auth.signing_key_file",
                &path.display().to_string(),
                &format!("is not a usable signing key: {e}"),
                "give a PKCS#8 PEM P-256 key (or remove the key to have one generated)",
            );
        }
    }
    for (name, registry) in &settings.registries {
        let files = [&registry.ca_bundle, &registry.client_cert, &registry.client_key];
        if files.iter().all(|f| f.as_ref().is_none_or(|f| f.exists()))
            && let Err(e) = crate::tls::registry_client(registry)
        {
            p.push_fix(
                &format!("registries.{name}"),
                "",
                &format!("its TLS files are not usable: {e}"),
                "give PEM files: a CA bundle, a client certificate chain and its key",
            );
        }
    }
    if settings.audit.trusted_public_keys.iter().all(|k| k.exists())
        && let Err(e) = crate::app::trusted_keys(settings, None)
    {
        p.push_fix("audit.trusted_public_keys", "", &format!("{e:#}"), "give SPKI PEM public keys");
    }
    p
}

/// Each external issuer whose discovery document or key set cannot be
/// fetched now (as the gateway would at start).
async fn issuer_warnings(issuers: &[crate::config::IssuerSettings]) -> Vec<String> {
    use crate::auth::external::{discovered_jwks_uri, get_document, http_client};
    let Ok(http) = http_client() else { return vec!["no HTTP client for the issuers".into()] };
    let mut warnings = Vec::new();
    for (i, s) in issuers.iter().enumerate() {
        let jwks_url = match (&s.jwks_url, s.discovery_url()) {
            (Some(url), _) => url.clone(),
            (None, Some(discovery)) => {
                match get_document(&http, &discovery).await.and_then(|(body, _)| discovered_jwks_uri(&body, &s.issuer))
                {
                    Ok(url) => url,
                    Err(e) => {
                        warnings.push(format!(
                            "auth.issuers[{i}].discovery: {discovery}: {e}; its tokens are refused until it answers"
                        ));
                        continue;
                    }
                }
            }
            (None, None) => continue,
        };
        if let Err(e) = get_document(&http, &jwks_url).await {
            warnings
                .push(format!("auth.issuers[{i}].jwks_url: {jwks_url}: {e}; its tokens are refused until it answers"));
        }
    }
    warnings
}

fn hash_secret() -> ExitCode {
    let mut secret = String::new();
    if std::io::stdin().read_to_string(&mut secret).is_err() {
        return fail("could not read the secret from stdin");
    }
    let secret = secret.trim_end_matches(['\n', '\r']);
    if secret.len() < 16 {
        return fail("the secret must be at least 16 characters");
    }
    use argon2::PasswordHasher;
    match argon2::Argon2::default().hash_password(secret.as_bytes()) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("hashing failed: {e}")),
    }
}
