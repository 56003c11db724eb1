//! The command line: `serve` (the default), `sandbox`, `check-config`,
//! `audit verify | export | archive`, `clients hash-secret`.

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
        Command::CheckConfig { config } => check_config(config),
        Command::Audit { command: AuditCommand::Verify { config, public_keys, archives } } => {
            crate::cli_audit::verify(config, public_keys, archives).await
        }
        Command::Audit { command: AuditCommand::Export { config, format, filters, output } } => {
            crate::cli_audit::export(config, format, *filters, output).await
        }
        Command::Audit { command: AuditCommand::Archive { config, older_than_days, dir } } => {
            crate::cli_audit::archive(config, older_than_days, dir).await
        }
        Command::Clients { command: ClientsCommand::HashSecret } => hash_secret(),
    }
}

async fn serve(config: Option<PathBuf>) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(problems) => return fail(format!("invalid configuration:\n{problems}")),
    };
    crate::telemetry::init(&settings.log.level, &settings.log.format);
    match hardening_problems(&settings) {
        Ok(problems) if !problems.is_empty() => return fail(format!("refusing to start: {}", problems.join("; "))),
        Ok(_) => {}
        Err(e) => return fail(e),
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(format!("cannot start: {e:#}")),
    };
    tracing::info!(api = %app.base_url(), sandbox = ?app.sandbox_addr, "bawaba serving");
    match app.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn sandbox(listen: SocketAddr) -> ExitCode {
    crate::telemetry::init("info", "json");
    let sandbox = connectors::sandbox::Sandbox::new(None);
    match sandbox.bind(listen).await {
        Ok((addr, serve)) => {
            tracing::info!(%addr, "sandbox registries serving");
            tokio::select! {
                _ = serve => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("sandbox --listen {listen}: {e}")),
    }
}

fn check_config(config: Option<PathBuf>) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(problems) => {
            eprint!("{problems}");
            return ExitCode::from(2);
        }
    };
    let mut problems = Vec::new();
    match hardening_problems(&settings) {
        Ok(p) => problems.extend(p),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        println!("configuration ok");
        ExitCode::SUCCESS
    } else {
        for p in problems {
            eprintln!("{p}");
        }
        ExitCode::from(2)
    }
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
