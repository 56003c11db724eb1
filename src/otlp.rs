//! Optional trace export (OpenTelemetry over OTLP/HTTP, protobuf), off unless
//! `telemetry.otlp_endpoint` is set. Each request's `request` span and each
//! registry attempt's `registry_attempt` span (the `bawaba` crate's spans
//! only) go to the collector in batches, under the W3C trace the gateway
//! takes up from the caller's `traceparent` or starts (`http::trace`): the
//! trace id in the logs, in the `traceparent` sent to registries and in the
//! collector are one. Span fields are those of the logs: no national ID,
//! phone number or name.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How long finished spans wait before their batch is sent.
const BATCH_DELAY: Duration = Duration::from_secs(1);

/// Set once trace export runs in this process.
static EXPORTING: OnceLock<()> = OnceLock::new();

/// The running export: flush it at exit with [`Export::shutdown`].
pub struct Export {
    provider: SdkTracerProvider,
}

impl Export {
    /// Starts exporting to `endpoint` (already validated); None when it is empty.
    pub fn start(endpoint: &str) -> anyhow::Result<Option<Export>> {
        if endpoint.is_empty() {
            return Ok(None);
        }
        let endpoint = endpoint.to_owned();
        // The exporter's HTTP client (reqwest's blocking one) must be made
        // outside the async runtime; the batches go from a thread of their own.
        let provider = std::thread::spawn(move || -> anyhow::Result<SdkTracerProvider> {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(Duration::from_secs(5))
                .build()?;
            let batches = BatchConfigBuilder::default().with_scheduled_delay(BATCH_DELAY).build();
            let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
            let resource = opentelemetry_sdk::Resource::builder().with_service_name("bawaba").build();
            Ok(SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the exporter could not be built"))??;
        let _ = EXPORTING.set(());
        Ok(Some(Export { provider }))
    }

    /// The layer that turns the gateway's spans into exported ones.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer;
        let only_ours = tracing_subscriber::filter::Targets::new().with_target("bawaba", tracing::Level::INFO);
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("bawaba")).with_filter(only_ours)
    }

    /// Sends what is still batched (off the async runtime: it blocks).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "trace export: last spans not sent");
        }
    }
}

/// Whether spans are exported in this process.
pub fn exporting() -> bool {
    EXPORTING.get().is_some()
}

/// Makes `span` a child of the caller's span (`parent`: trace id, parent
/// span id and flags of a valid `traceparent`), or the root of a new trace;
/// the trace id, span id and flags it got.
pub fn join(span: &tracing::Span, parent: Option<(&str, &str, &str)>) -> Option<(String, String, String)> {
    if let Some((trace_id, parent_id, flags)) = parent {
        let remote = SpanContext::new(
            TraceId::from_hex(trace_id).ok()?,
            SpanId::from_hex(parent_id).ok()?,
            TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let cx = span.context();
    let own = cx.span().span_context().clone();
    own.is_valid()
        .then(|| (own.trace_id().to_string(), own.span_id().to_string(), format!("{:02x}", own.trace_flags().to_u8())))
}
