//! `bawaba keys rotate`: a new token, checkpoint or receipt signing key.
//!
//! Token keys kept in the store get a new row that signs from a moment a
//! little ahead (every replica reloads the store's keys meanwhile and
//! publishes the new key before any signs with it). Checkpoint and receipt
//! keys live in bundle files outside the database: the new key is appended
//! (the file replaced at once), and gateways sign with it from their next
//! reload. Old keys stay: they verify what they signed.

use crate::app::load_settings;
use crate::store::{Store, StoreOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Token,
    Checkpoint,
    Receipt,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bawaba: {message}");
    ExitCode::from(2)
}

pub async fn rotate(config: Option<PathBuf>, key: KeyKind, activate_after: Option<u64>) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(p) => return fail(format!("invalid configuration:\n{p}")),
    };
    if activate_after.is_some() && key != KeyKind::Token {
        return fail("--activate-after-seconds applies to the token key only");
    }
    match key {
        KeyKind::Token => {
            if let Some(file) = &settings.auth.signing_key_file {
                return fail(format!(
                    "auth.signing_key_file {} is set: the token keys are that file's; append a new PEM key to it \
                     (the last key signs, all verify) on every replica, then restart them",
                    file.display()
                ));
            }
            let options = StoreOptions { busy_timeout: Duration::from_secs(5), ..StoreOptions::from(&settings.store) };
            let store = match Store::open(&settings.store.url, &options).await {
                Ok(s) => s,
                Err(e) => return fail(format!("store.url: {e}")),
            };
            let after = activate_after.map(Duration::from_secs).unwrap_or(crate::auth::keys::ACTIVATE_AFTER);
            match crate::auth::keys::rotate_stored(&store, after).await {
                Ok((kid, at)) => {
                    println!("token key {kid} added; it signs from {at}, the older keys still verify");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("token key not rotated: {e}")),
            }
        }
        KeyKind::Checkpoint => match crate::audit::checkpoint::rotate_file(&settings.audit.checkpoint_key_file) {
            Ok(id) => {
                println!(
                    "checkpoint key {id} appended to {}; gateways sign with it within {} s, the older keys stay trusted",
                    settings.audit.checkpoint_key_file.display(),
                    crate::auth::keys::RELOAD_EVERY.as_secs()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("checkpoint key not rotated: {e:#}")),
        },
        KeyKind::Receipt => match crate::receipts::keys::rotate_file(&settings.receipts.key_file) {
            Ok(kid) => {
                println!(
                    "receipt key {kid} appended to {}; gateways sign with it within {} s, the older keys stay trusted",
                    settings.receipts.key_file.display(),
                    crate::auth::keys::RELOAD_EVERY.as_secs()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("receipt key not rotated: {e:#}")),
        },
    }
}
