//! Building and running one gateway: `Application::build(settings)` binds
//! everything and returns the bound addresses and a `run` future.

use crate::audit::{AuditLog, AuditSink, CheckpointKey, Sealer, TrustedKeys};
use crate::auth::{ClientRegistry, KeyRing, PurposePolicy, RateLimits, TokenService};
use crate::config::{self, ClientsFile, PurposesFile, Settings};
use crate::http::state::{AppState, Registries, SmsConfig};
use crate::metrics::Metrics;
use crate::resilience::Guard;
use crate::resilience::{Policy, Resilient};
use crate::security::{SecurityWorker, WorkerSettings};
use crate::sms::{DispatchSettings, Dispatcher};
use crate::store::{Store, StoreOptions};
use actix_web::{App, HttpServer, web};
use connectors::commercial_register::CommercialRegisterRegistry;
use connectors::national_id::NationalIdRegistry;
use connectors::real_estate::RealEstateRegistry;
use connectors::security::SecurityDirectorate;
use connectors::smsc::Smsc;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The secrets of the demo configuration: a non-loopback listener refuses to
/// start while any of them is accepted.
const DEMO_SECRETS: &[&str] =
    &["center-demo-secret", "center2-demo-secret", "limited-demo-secret", "auditor-demo-secret"];
const DEMO_SMSC_SECRET: &str = "smsc-demo-secret";
const DEMO_CALLBACK_SECRETS: &[&str] = &["center-demo-callback-secret"];

pub struct Application {
    pub addr: SocketAddr,
    pub sandbox_addr: Option<SocketAddr>,
    pub tls: bool,
    server: actix_web::dev::Server,
    /// Loops that run until aborted (probes, tickers), and the registry
    /// workers, which stop after their round.
    tasks: crate::shutdown::Tasks,
    /// The group-commit writers: they end by themselves, having committed
    /// what they hold, once the server (and so every handler) is gone.
    writers: Vec<tokio::task::JoinHandle<()>>,
    /// Signs the chain head one last time at shutdown.
    sealer: Option<(Store, Sealer)>,
    drain: Arc<crate::shutdown::Drain>,
    plan: crate::shutdown::Plan,
}

pub(crate) fn load_clients(settings: &Settings) -> anyhow::Result<ClientsFile> {
    let path = &settings.auth.clients_file;
    let text = config::read_config_file(path, config::DEFAULT_CLIENTS_TOML, "config/clients.toml")
        .map_err(|e| anyhow::anyhow!("auth.clients_file {}: {e}", path.display()))?;
    ClientsFile::parse_for(&text, &path.display().to_string(), Some(&settings.auth.issuers))
        .map_err(|p| anyhow::anyhow!("{p}"))
}

fn load_purposes(settings: &Settings) -> anyhow::Result<PurposesFile> {
    let path = &settings.auth.purposes_file;
    let text = config::read_config_file(path, config::DEFAULT_PURPOSES_TOML, "config/purposes.toml")
        .map_err(|e| anyhow::anyhow!("auth.purposes_file {}: {e}", path.display()))?;
    PurposesFile::parse(&text, &path.display().to_string()).map_err(|p| anyhow::anyhow!("{p}"))
}

/// Every reason `serve` must refuse to start on this configuration (CONTRACT §1).
pub fn hardening_problems(settings: &Settings) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    if settings.server.listen.ip().is_loopback() {
        return Ok(problems);
    }
    let addr = settings.server.listen;
    if settings.server.tls_cert.is_none() {
        problems.push(format!("server.listen {addr} is not loopback: set server.tls_cert and server.tls_key"));
    }
    if settings.sandbox.enabled {
        problems.push(format!("server.listen {addr} is not loopback: set sandbox.enabled = false"));
    }
    if settings.sms.smsc_secret == DEMO_SMSC_SECRET {
        problems.push(format!("server.listen {addr} is not loopback: sms.smsc_secret is the demo secret"));
    }
    // A clients file that cannot be read is reported with the rest.
    let clients = match load_clients(settings) {
        Ok(clients) => clients,
        Err(e) => {
            problems.push(e.to_string());
            return Ok(problems);
        }
    };
    for c in &clients.clients {
        let demo_secret = DEMO_SECRETS.iter().any(|s| crate::auth::verify_secret_hash(&c.secret_hash, s));
        let demo_callback = c.callback_secret.as_deref().is_some_and(|s| DEMO_CALLBACK_SECRETS.contains(&s));
        if demo_secret || demo_callback {
            problems.push(format!(
                "server.listen {addr} is not loopback: client {} uses a demo secret; replace it in {}",
                c.client_id,
                settings.auth.clients_file.display()
            ));
        }
    }
    Ok(problems)
}

/// The public keys whose checkpoint signatures count: the gateway's own key
/// and `audit.trusted_public_keys`.
pub fn trusted_keys(settings: &Settings, own: Option<&CheckpointKey>) -> anyhow::Result<TrustedKeys> {
    let mut keys = TrustedKeys::default();
    if let Some(own) = own {
        keys.add(own.public());
        // Every key of the bundle, and those a rotation adds later.
        keys.watch(&settings.audit.checkpoint_key_file).map_err(|e| {
            anyhow::anyhow!("audit.checkpoint_key_file {}: {e}", settings.audit.checkpoint_key_file.display())
        })?;
    }
    for path in &settings.audit.trusted_public_keys {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("audit.trusted_public_keys {}: {e}", path.display()))?;
        keys.add_pem(&pem).map_err(|e| anyhow::anyhow!("audit.trusted_public_keys {}: {e}", path.display()))?;
    }
    Ok(keys)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with(settings, None).await
    }

    /// Builds the gateway with another audit sink: for benchmarks only, which
    /// measure the request path beside a sink that keeps nothing.
    pub async fn build_with(settings: Settings, audit_sink: Option<Arc<dyn AuditSink>>) -> anyhow::Result<Application> {
        let metrics = Arc::new(Metrics::new());
        // Counted by the process-wide logger (see telemetry), shown by every gateway.
        let _ = metrics.registry.register(Box::new(crate::telemetry::malformed_requests().clone()));
        let mut background = Vec::new();
        let (stop_workers, stop) = crate::shutdown::Stop::new();
        let mut workers = Vec::new();

        let mut sandbox_handle = None;
        let sandbox_addr = if settings.sandbox.enabled {
            let sandbox = connectors::sandbox::Sandbox::new(None);
            sandbox_handle = Some(sandbox.clone());
            let (addr, serve) = sandbox
                .bind(settings.sandbox.listen)
                .await
                .map_err(|e| anyhow::anyhow!("sandbox.listen {}: {e}", settings.sandbox.listen))?;
            background.push(tokio::spawn(serve));
            Some(addr)
        } else {
            None
        };
        let default_upstream = sandbox_addr.unwrap_or(settings.sandbox.listen);

        let store = Store::open(&settings.store.url, &StoreOptions::from(&settings.store))
            .await
            .map_err(|e| anyhow::anyhow!("store.url: {e}"))?;
        let checkpoint_key = Arc::new(CheckpointKey::load_or_create(&settings.audit.checkpoint_key_file)?);
        let trusted_keys = trusted_keys(&settings, Some(&checkpoint_key))?;
        let keys = KeyRing::load(&store, settings.auth.signing_key_file.as_deref()).await?;
        let receipts =
            Arc::new(crate::receipts::Receipts::from_file(&settings.receipts.key_file, settings.receipts.valid_days)?);
        crate::receipts::cleanup::clean_once(&store, &receipts)
            .await
            .map_err(|e| anyhow::anyhow!("store.url: receipts: {e}"))?;
        background.push(tokio::spawn(crate::receipts::cleanup::cleanup_loop(
            store.clone(),
            receipts.clone(),
            Duration::from_secs(settings.receipts.cleanup_interval_seconds),
        )));
        let guessing = crate::verify::guessing::GuessStop::open(store.clone(), &settings.verify)
            .await
            .map_err(|e| anyhow::anyhow!("store.url: claim mismatches: {e}"))?;
        background.push(tokio::spawn(guessing.clone().cleanup_loop(Duration::from_secs(300))));
        let clients_file = load_clients(&settings)?;
        let signals = crate::audit::signals::SignalRules::new(&settings.signals, &clients_file.clients);
        let clients = ClientRegistry::new(&clients_file.clients);
        let external = crate::auth::external::ExternalIssuers::new(&settings.auth.issuers, metrics.clone())?;
        // Keys fetched once before serving; a failure does not stop the start.
        background.extend(external.start().await);
        let purposes = PurposePolicy::new(&load_purposes(&settings)?);
        let mut writers = Vec::new();
        let mut final_sealer = None;
        let audit = match audit_sink {
            Some(sink) => AuditLog::with_sink(store, sink),
            None => {
                let sealer = Sealer { key: checkpoint_key, every: settings.audit.checkpoint_every };
                final_sealer = Some((store.clone(), sealer.clone()));
                let interval = Duration::from_secs(settings.audit.checkpoint_interval_seconds);
                metrics.audit_checkpoint_interval.set(interval.as_secs() as i64);
                background.push(tokio::spawn(crate::audit::signing_lag::watch(store.clone(), metrics.clone())));
                let (audit, mut audit_tasks) =
                    AuditLog::start(store, settings.store.max_batch, sealer, interval, metrics.clone())?;
                // The writer comes first (see AuditLog::start); the checkpoint
                // ticker and the store probe are loops.
                writers.push(audit_tasks.remove(0));
                background.extend(audit_tasks);
                audit
            }
        };

        let registry = |name: &str| -> anyhow::Result<(reqwest::Client, String, Policy)> {
            let s = &settings.registries[name];
            let client = crate::tls::registry_client(s).map_err(|e| anyhow::anyhow!("registries.{name}: {e}"))?;
            Ok((client, settings.registry_base_url(name, default_upstream), Policy::from(s)))
        };
        let (client, base, policy) = registry("national_id")?;
        let national_id = Resilient::new(NationalIdRegistry::new(client, &base), policy, metrics.clone());
        let (client, base, policy) = registry("commercial_register")?;
        let commercial_register =
            Resilient::new(CommercialRegisterRegistry::new(client, &base), policy, metrics.clone());
        let (client, base, policy) = registry("real_estate")?;
        let real_estate = Resilient::new(RealEstateRegistry::new(client, &base), policy, metrics.clone());
        let (client, base, policy) = registry("security")?;
        let security = Arc::new(Guard::new("security", policy, metrics.clone()));
        let (smsc_client, smsc_base, smsc_policy) = registry("smsc")?;
        let smsc = Arc::new(Guard::new("smsc", smsc_policy, metrics.clone()));
        let registries = Registries {
            national_id,
            commercial_register,
            real_estate,
            security: security.clone(),
            smsc: smsc.clone(),
        };
        workers.push(
            Dispatcher {
                store: audit.store().clone(),
                metrics: metrics.clone(),
                smsc: Arc::new(Smsc::new(smsc_client, &smsc_base)),
                guard: smsc,
                settings: DispatchSettings {
                    sender: settings.sms.sender.clone(),
                    messages_per_second: settings.sms.messages_per_second,
                    tick: Duration::from_millis(100),
                    give_up_after: Duration::from_secs(settings.sms.give_up_after_seconds),
                    lease: Duration::from_secs(settings.store.lease_seconds),
                },
            }
            .spawn(stop.clone()),
        );
        let templates_path = &settings.sms.templates_file;
        let templates_text =
            config::read_config_file(templates_path, config::DEFAULT_SMS_TEMPLATES_TOML, "config/sms_templates.toml")
                .map_err(|e| anyhow::anyhow!("sms.templates_file {}: {e}", templates_path.display()))?;
        let templates = crate::sms::Templates::parse(&templates_text, &templates_path.display().to_string())
            .map_err(|p| anyhow::anyhow!("{p}"))?;

        // Callbacks go to client-configured URLs: no redirects followed.
        let callback_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        workers.push(
            SecurityWorker {
                store: audit.store().clone(),
                directorate: Arc::new(SecurityDirectorate::new(client, &base)),
                guard: security,
                clients: clients.clone(),
                http: callback_http,
                settings: WorkerSettings {
                    lease: Duration::from_secs(settings.store.lease_seconds),
                    ..WorkerSettings::default()
                },
            }
            .spawn(stop),
        );

        let (acceptor, acceptor_tasks) =
            crate::sms::SmsAcceptor::start(audit.store().clone(), settings.store.max_batch);
        writers.extend(acceptor_tasks);
        let state = web::Data::new(AppState {
            sms: SmsConfig {
                acceptor,
                templates,
                max_segments: settings.sms.max_segments,
                smsc_secret: settings.sms.smsc_secret.clone(),
            },
            clients: clients.clone(),
            policy: purposes,
            tokens: TokenService::new(
                keys,
                clients,
                &settings.auth.issuer,
                &settings.auth.audience,
                Duration::from_secs(settings.auth.token_ttl_seconds),
            )
            .with_external(external),
            rate: RateLimits::new(
                settings.auth.token_rate_per_second,
                settings.auth.token_rate_burst,
                settings.auth.denied_audit_per_minute,
                (settings.receipts.verify_rate_per_second, settings.receipts.verify_rate_burst),
            ),
            receipts,
            guessing,
            signals,
            audit,
            audit_keys: trusted_keys,
            metrics: metrics.clone(),
            registries,
            citizens: crate::citizens::Citizens::new(&settings.citizens, &clients_file),
        });
        background.push(tokio::spawn(key_reload_loop(
            state.clone(),
            final_sealer.as_ref().map(|(_, s)| s.key.clone()),
            settings.auth.signing_key_file.is_none(),
            settings.audit.checkpoint_key_file.clone(),
        )));
        background.push(crate::citizens::notify::spawn(state.clone()));
        let metrics_data = web::Data::new(metrics);
        let request_timeout = Duration::from_millis(settings.server.client_request_timeout_ms);
        let body_deadline = web::Data::new(crate::http::body::RequestTimeout(request_timeout));
        let tls = settings.server.tls_cert.is_some();
        let drain = crate::shutdown::Drain::new();
        let drain_data = web::Data::from(drain.clone());
        let plan =
            crate::shutdown::Plan::new(settings.server.shutdown_grace_seconds, settings.server.shutdown_drain_seconds);
        let factory = move || {
            App::new()
                .app_data(state.clone())
                .app_data(drain_data.clone())
                .app_data(metrics_data.clone())
                .app_data(body_deadline.clone())
                // Inside the request context (it reads the request id).
                .wrap(actix_web::middleware::from_fn(crate::http::trace::traced))
                .wrap(actix_web::middleware::from_fn(crate::http::issuer_keys::await_issuer_keys))
                .wrap(actix_web::middleware::from_fn(crate::http::context::request_context))
                .wrap(crate::http::security_headers(tls))
                .configure(crate::http::routes)
        };
        // Signals are this crate's (see crate::shutdown), not actix's.
        let mut server = HttpServer::new(factory)
            .disable_signals()
            .shutdown_timeout(plan.server_timeout_seconds())
            .client_request_timeout(request_timeout)
            .keep_alive(Duration::from_secs(settings.server.keep_alive_seconds));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = match (&settings.server.tls_cert, &settings.server.tls_key) {
            (Some(cert), Some(key)) => {
                let config = crate::tls::server_config(cert, key)?;
                server.bind_rustls_0_23(settings.server.listen, config)
            }
            _ => server.bind(settings.server.listen),
        }
        .map_err(|e| anyhow::anyhow!("server.listen {}: {e}", settings.server.listen))?;
        let addr = server.addrs().first().copied().ok_or_else(|| anyhow::anyhow!("server bound no address"))?;
        if let Some(sandbox) = sandbox_handle {
            // The embedded SMSC reports deliveries and inbound messages to this gateway.
            sandbox.set_smsc_callback(connectors::sandbox::SmscCallback {
                gateway_base_url: format!("{}://{addr}", if tls { "https" } else { "http" }),
                secret: settings.sms.smsc_secret.clone(),
            });
        }
        let server = server.run();
        let tasks = crate::shutdown::Tasks { background, workers, stop: stop_workers };
        Ok(Application { addr, sandbox_addr, tls, server, tasks, writers, sealer: final_sealer, drain, plan })
    }

    /// Serves until the server is stopped (see [`Application::stop_handle`]),
    /// then stops background work as a shutdown does.
    pub async fn run(self) -> std::io::Result<()> {
        let Application { server, tasks, writers, sealer, plan, .. } = self;
        let result = server.await;
        crate::shutdown::finish(tasks, writers, sealer, tokio::time::Instant::now() + plan.grace).await;
        result
    }

    /// Serves until the first of `signals`, then shuts down gracefully (see
    /// [`crate::shutdown`]): the exit status of the process.
    pub async fn serve_until_signal(self, mut signals: crate::shutdown::Signals) -> std::process::ExitCode {
        use std::process::ExitCode;
        let Application { server, tasks, writers, sealer, drain, plan, .. } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        let received = tokio::select! {
            result = &mut server => {
                // The server ended by itself: stop the rest, report why.
                crate::shutdown::finish(tasks, writers, sealer, tokio::time::Instant::now() + plan.grace).await;
                return match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        tracing::error!(error = %e, "server failed");
                        ExitCode::FAILURE
                    }
                };
            }
            received = signals.next() => received,
        };
        let deadline = tokio::time::Instant::now() + plan.grace;
        drain.start();
        signals.exit_on_next();
        tracing::info!(
            signal = received.name(),
            grace_seconds = plan.grace.as_secs(),
            drain_seconds = plan.drain.as_secs(),
            "shutting down: readiness not_ready"
        );
        let mut stopped = None;
        tokio::select! {
            result = &mut server => stopped = Some(result),
            _ = tokio::time::sleep(plan.drain) => {}
        }
        let result = match stopped {
            Some(result) => result,
            None => {
                tracing::info!("shutting down: no new connections; finishing calls in flight");
                // Stops accepting; keep-alive connections close after their
                // current answer; the server future ends when all have.
                let stopping = tokio::spawn(handle.stop(true));
                let result = server.await;
                let _ = stopping.await;
                result
            }
        };
        let flushed = crate::shutdown::finish(tasks, writers, sealer, deadline).await;
        match (result, flushed) {
            (Ok(()), true) => {
                tracing::info!("shut down cleanly");
                ExitCode::SUCCESS
            }
            (Err(e), _) => {
                tracing::error!(error = %e, "server failed while shutting down");
                ExitCode::FAILURE
            }
            (Ok(()), false) => ExitCode::FAILURE,
        }
    }

    /// A handle that stops this gateway (server and background work), as a
    /// process exit would, for tests of restarts.
    pub fn stop_handle(&self) -> StopHandle {
        let tasks = self.tasks.background.iter().chain(&self.tasks.workers).chain(&self.writers);
        let tasks = tasks.map(|t| t.abort_handle()).collect();
        StopHandle { server: self.server.handle(), tasks }
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }
}

/// Takes up rotated keys (`bawaba keys rotate`, or another replica's): the
/// store's token keys, the checkpoint key file and the receipt key file,
/// every `auth::keys::RELOAD_EVERY`.
async fn key_reload_loop(
    state: web::Data<AppState>,
    checkpoint: Option<Arc<CheckpointKey>>,
    stored_token_keys: bool,
    checkpoint_file: std::path::PathBuf,
) {
    let mut tick = tokio::time::interval(crate::auth::keys::RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if stored_token_keys {
            match KeyRing::reload(state.audit.store()).await {
                Ok(ring) => {
                    if state.tokens.replace_keys(ring) {
                        tracing::info!("token signing keys reloaded: a rotation");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "token keys not reloaded; will retry"),
            }
        }
        if let Some(key) = &checkpoint {
            match key.reload(&checkpoint_file) {
                Ok(true) => tracing::info!(key_id = %key.id(), "checkpoint key rotated"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "checkpoint key not reloaded; will retry"),
            }
        }
        match state.receipts.reload() {
            Ok(true) => tracing::info!("receipt key rotated"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "receipt keys not reloaded; will retry"),
        }
    }
}

pub struct StopHandle {
    server: actix_web::dev::ServerHandle,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl StopHandle {
    /// Stops at once: background work is aborted where it stands, like a kill.
    pub async fn kill(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.server.stop(false).await;
    }
}

/// Loads settings from `file` (or the default `config/bawaba.toml` when it exists).
pub fn load_settings(file: Option<&Path>) -> Result<Settings, config::Problems> {
    match file {
        Some(f) => Settings::load(Some(f)),
        None => {
            let default = Path::new("config/bawaba.toml");
            Settings::load(default.exists().then_some(default))
        }
    }
}
