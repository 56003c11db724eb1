//! Bawaba (بوابة, "gateway"): one authenticated, cached, retrying, audited door
//! between citizen-service center applications and the national registries.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod citizens;
pub mod cli;
mod cli_audit;
mod cli_keys;
mod cli_receipt;
mod cli_store;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod otlp;
pub mod receipts;
pub mod resilience;
pub mod security;
pub mod shutdown;
pub mod sms;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod verify;

pub use app::Application;
