//! The command line: `serve` (the default), `sandbox`, `check-config`,
//! `audit verify`, `clients hash-secret`.

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
    /// Re-compute the audit chain: exit 0 intact, 1 broken (prints the first bad sequence number).
    Verify {
        #[arg(long)]
        config: Option<PathBuf>,
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
        Command::Audit { command: AuditCommand::Verify { config } } => audit_verify(config).await,
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

async fn audit_verify(config: Option<PathBuf>) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(problems) => return fail(format!("invalid configuration:\n{problems}")),
    };
    let store = match crate::store::Store::open(&settings.store.url, std::time::Duration::from_secs(5)).await {
        Ok(s) => s,
        Err(e) => return fail(format!("store.url: {e}")),
    };
    match crate::audit::verify_chain(&store).await {
        Ok(r) if r.ok => {
            println!("audit chain intact: {} events, head seq {}", r.checked, r.head_seq.unwrap_or(0));
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!(
                "audit chain BROKEN at seq {} ({} events verified before it)",
                r.first_bad_seq.unwrap_or(0),
                r.checked
            );
            ExitCode::from(1)
        }
        Err(e) => fail(format!("cannot read the audit log: {e}")),
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
