//! The configuration loader on any file an operator might write, and the
//! clients file it names: every problem reported, never a panic.
#![no_main]

use bawaba::config::{ClientsFile, Settings, parse_file};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("bawaba-fuzz-config-{}.toml", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line, when it is `BAWABA__KEY=value`, is an environment variable.
    let (env, file) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("BAWABA__") && first.contains('=') => {
            let (k, v) = first.split_once('=').unwrap();
            (vec![(k.to_owned(), v.to_owned())], rest)
        }
        _ => (Vec::new(), text),
    };
    std::fs::write(scratch(), file).unwrap();
    let (settings, problems) = Settings::load_checked(Some(scratch()), &env);
    if problems.0.is_empty() {
        assert!(settings.is_some());
    }
    let _ = parse_file::<ClientsFile>(file, "clients file");
});
