//! The `bawaba` binary: a thin main over the library.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

// Every request allocates many small strings across worker threads; glibc's
// allocator showed up at ~15% of the gateway's CPU under load (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, before anything builds a
    // rustls config (several crates could otherwise disagree on the default).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    bawaba::cli::run(bawaba::cli::Cli::parse()).await
}
