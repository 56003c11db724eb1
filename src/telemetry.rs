//! Logging: JSON lines (or pretty for a terminal). Fields are typed and never
//! carry national IDs, phone numbers, names or tokens.

use tracing_subscriber::EnvFilter;

pub fn init(level: &str, format: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests that start several gateways) is harmless.
    let _ = if format == "pretty" { builder.try_init() } else { builder.json().flatten_event(true).try_init() };
}
