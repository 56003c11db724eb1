//! Logging: JSON lines (or pretty for a terminal). Fields are typed and never
//! carry national IDs, phone numbers, names or tokens.
//!
//! Malformed client input is the client's problem, not the gateway's: actix's
//! HTTP/1 dispatcher logs every request it cannot parse (a NUL byte in a
//! header, a head too large, a slow head, a reset) at ERROR, so any client
//! could write ERROR lines at will. Those events are kept out of the log;
//! instead they are counted (`bawaba_malformed_requests_total`) and reported
//! as one WARN line at most every [`WARN_EVERY_SECS`], with the count since the
//! last one and a fixed reason word (never the client's bytes).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Where actix-http logs what clients sent wrong, and how those lines begin
/// (the same modules also log server-side faults, which stay ERROR lines).
const CLIENT_INPUT_TARGETS: &[&str] = &["actix_http::h1::dispatcher", "actix_http::h1::decoder"];
const CLIENT_INPUT_MESSAGES: &[&str] = &["stream error", "MAX_BUFFER_SIZE"];
const WARN_EVERY_SECS: u64 = 10;

fn may_be_client_input(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::WARN && CLIENT_INPUT_TARGETS.iter().any(|t| meta.target().starts_with(t))
}

/// The event's message when it is about a client's malformed request.
fn client_input(event: &Event<'_>) -> Option<String> {
    if !may_be_client_input(event.metadata()) {
        return None;
    }
    let mut message = Message::default();
    event.record(&mut message);
    CLIENT_INPUT_MESSAGES.iter().any(|m| message.0.starts_with(m)).then_some(message.0)
}

/// Passes only client-input events (for the counting layer)…
struct ClientInput;

impl<S> Filter<S> for ClientInput {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        may_be_client_input(meta)
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        client_input(event).is_some()
    }
}

/// …and everything else (for the log).
struct NotClientInput;

impl<S> Filter<S> for NotClientInput {
    fn enabled(&self, _: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn callsite_enabled(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::always()
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        client_input(event).is_none()
    }
}

/// Malformed requests seen by this process; registered in every gateway's
/// metrics registry (there is one process-wide logger).
pub fn malformed_requests() -> &'static prometheus::IntCounter {
    static COUNTER: OnceLock<prometheus::IntCounter> = OnceLock::new();
    COUNTER.get_or_init(|| {
        prometheus::IntCounter::new(
            "malformed_requests_total",
            "Requests refused by the HTTP layer before routing (unparsable, too large, too slow, reset)",
        )
        .expect("valid metric")
    })
}

pub fn init(level: &str, format: &str) {
    init_with_writer(level, format, std::io::stderr);
}

/// [`init`], and trace export to `otlp_endpoint` unless it is empty (see
/// [`crate::otlp`]): what to flush at exit.
pub fn init_exporting(level: &str, format: &str, otlp_endpoint: &str) -> Option<crate::otlp::Export> {
    let export = match crate::otlp::Export::start(otlp_endpoint) {
        Ok(export) => export,
        Err(e) => {
            init(level, format);
            tracing::error!(error = %e, "telemetry.otlp_endpoint: trace export not started");
            return None;
        }
    };
    init_layers(level, format, std::io::stderr, export.as_ref());
    export
}

/// [`init`] writing somewhere else than stderr (tests read their own logs).
pub fn init_with_writer<W>(level: &str, format: &str, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    init_layers(level, format, writer, None);
}

fn init_layers<W>(level: &str, format: &str, writer: W, export: Option<&crate::otlp::Export>)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt = if format == "pretty" { fmt.boxed() } else { fmt.json().flatten_event(true).boxed() };
    let subscriber = Registry::default()
        .with(export.map(crate::otlp::Export::layer))
        .with(fmt.with_filter(filter.and(NotClientInput)))
        // Only ERROR and WARN callsites: actix's per-request trace lines stay disabled.
        .with(ClientInputLayer::default().with_filter(ClientInput));
    // A second init (tests that start several gateways) is harmless.
    let _ = subscriber.try_init();
}

/// Counts client-input events and turns them into rare warnings.
#[derive(Default)]
struct ClientInputLayer {
    /// Unix second of the last warning.
    last_warned: AtomicU64,
    /// Events since the last warning.
    pending: AtomicU64,
}

/// A fixed word for what went wrong, from actix's message.
fn reason(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("too large") || m.contains("overflow") {
        "too_large"
    } else if m.contains("timeout") || m.contains("timed out") || m.contains("slow") {
        "too_slow"
    } else if m.contains("io error") || m.contains("i/o") || m.contains("reset") || m.contains("broken pipe") {
        "connection"
    } else if m.contains("header") {
        "bad_header"
    } else {
        "malformed"
    }
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && self.0.len() < 256 {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for ClientInputLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(message) = client_input(event) else { return };
        malformed_requests().inc();
        let pending = self.pending.fetch_add(1, Ordering::Relaxed) + 1;
        let now = crate::auth::unix_now();
        let last = self.last_warned.load(Ordering::Relaxed);
        if now < last + WARN_EVERY_SECS
            || self.last_warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        self.pending.fetch_sub(pending, Ordering::Relaxed);
        tracing::warn!(
            target: "bawaba::http",
            reason = reason(&message),
            count = pending,
            "malformed client requests refused by the HTTP layer"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn the_reason_is_a_fixed_word() {
        assert_eq!(reason("stream error: Parse error: Invalid Header provided"), "bad_header");
        assert_eq!(reason("stream error: Parse error: message head is too large"), "too_large");
        assert_eq!(reason("stream error: IO error: Connection reset by peer"), "connection");
        assert_eq!(reason("stream error: Parse error: 29001011300036"), "malformed");
    }
}
