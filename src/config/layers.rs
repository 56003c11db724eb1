//! Merging the configuration layers and turning them into typed settings while
//! collecting every problem instead of stopping at the first.

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::Path;
use toml::{Table, Value};

/// One problem with the configuration: the key, the value, why, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub value: String,
    pub why: String,
}

#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<ConfigProblem>);

impl Problems {
    pub fn push(&mut self, key: &str, value: &str, why: &str) {
        self.0.push(ConfigProblem { key: key.to_owned(), value: value.to_owned(), why: why.to_owned() });
    }

    pub fn into_result(self) -> Result<(), Problems> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{}: {:?}: {}", p.key, p.value, p.why)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Defaults, then the file, then `BAWABA__…` variables, merged key by key.
pub fn merge(defaults: &str, file: Option<&Path>, env: &[(String, String)]) -> Result<Table, Problems> {
    let mut problems = Problems::default();
    let mut merged: Table =
        defaults.parse().map_err(|e| single("(embedded default)", "", &format!("does not parse: {e}")))?;
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<Table>() {
                Ok(table) => overlay(&mut merged, table),
                Err(e) => problems.push(&path.display().to_string(), "", &format!("is not valid TOML: {e}")),
            },
            Err(e) => problems.push(&path.display().to_string(), "", &format!("cannot be read: {e}")),
        }
    }
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("BAWABA__") else { continue };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|s| s.is_empty()) {
            problems.push(name, raw, "an environment key is BAWABA__SECTION__KEY");
            continue;
        }
        set_path(&mut merged, &path, env_value(raw));
    }
    problems.into_result().map(|()| merged)
}

/// Deserialises the merged table, reporting every unknown key and the first
/// type error. Unknown keys do not stop the typed pass, so the caller can go on
/// to report the remaining problems too.
pub fn deserialize<T: DeserializeOwned>(table: Table) -> (Option<T>, Problems) {
    let mut problems = Problems::default();
    let mut unknown = Vec::new();
    let value = Value::Table(table.clone());
    let result: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut |path: serde_ignored::Path| {
            unknown.push(path.to_string())
        }));
    for key in &unknown {
        problems.push(key, &lookup(&table, key), "unknown key (check its spelling against config/bawaba.toml)");
    }
    match result {
        Ok(v) => (Some(v), problems),
        Err(e) => {
            let key = e.path().to_string();
            let why = e.into_inner().to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_owned();
            problems.push(&key, &lookup(&table, &key), &why);
            (None, problems)
        }
    }
}

fn single(key: &str, value: &str, why: &str) -> Problems {
    let mut p = Problems::default();
    p.push(key, value, why);
    p
}

fn lookup(table: &Table, dotted: &str) -> String {
    let mut current: Option<&Value> = None;
    let mut tbl = Some(table);
    for part in dotted.split('.') {
        current = tbl.and_then(|t| t.get(part));
        tbl = current.and_then(Value::as_table);
    }
    match current {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// An environment value is read as a TOML value when it is one (numbers,
/// booleans, arrays), else as a plain string.
fn env_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn overlay(base: &mut Table, top: Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(t)) => overlay(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut current = table;
    for part in parents {
        let entry = current.entry(part.clone()).or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.clone(), value);
}
