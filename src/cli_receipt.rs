//! `bawaba receipt verify CODE [--keys FILE]`: offline verification of a
//! receipt, exit 0 genuine, 1 not (2: the keys could not be read). The keys
//! are the published trust list (`/.well-known/bawaba-receipt-keys.json`,
//! saved to a file) or, for the operator, the configured `receipts.key_file`.

use crate::receipts::{ReceiptKeys, TrustList};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bawaba: {message}");
    ExitCode::from(2)
}

/// A JWKS file (the published list) or a PEM bundle (the key file).
fn read_keys(path: &std::path::Path) -> anyhow::Result<TrustList> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if text.trim_start().starts_with('{') {
        TrustList::from_jwks(&text).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))
    } else {
        Ok(ReceiptKeys::from_bundle(&text).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?.all)
    }
}

pub fn verify(code: String, keys: Option<PathBuf>, config: Option<PathBuf>) -> ExitCode {
    let code = if code == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut text) {
            return fail(format!("stdin: {e}"));
        }
        text
    } else {
        code
    };
    let trust = match keys {
        Some(path) => read_keys(&path),
        None => match crate::app::load_settings(config.as_deref()) {
            Ok(settings) => ReceiptKeys::read(&settings.receipts.key_file).map(|k| k.all),
            Err(problems) => return fail(format!("invalid configuration:\n{problems}")),
        },
    };
    let trust = match trust {
        Ok(t) => t,
        Err(e) => return fail(format!("{e:#} (or pass --keys with the gateway's bawaba-receipt-keys.json)")),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // zbarimg prints `QR-Code:` before the text; accept its output as it is.
    let code = code.trim_start();
    let code = code.strip_prefix("QR-Code:").unwrap_or(code);
    match crate::receipts::code::verify(code, &trust, now) {
        Ok(payload) => {
            println!("genuine");
            println!("{}", serde_json::to_string_pretty(&payload).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err((refusal, payload)) => {
            println!("not genuine: {} ({})", refusal.as_str(), refusal.explain());
            if let Some(payload) = payload {
                println!("{}", serde_json::to_string_pretty(&payload).unwrap_or_default());
            }
            ExitCode::from(1)
        }
    }
}
