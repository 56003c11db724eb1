//! Merging the configuration layers and turning them into typed settings while
//! collecting every problem instead of stopping at the first.

use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use toml::{Table, Value};

/// One problem with the configuration: the key, the value, why, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub value: String,
    pub why: String,
    /// How to fix it, when `why` does not already say.
    pub fix: String,
}

#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<ConfigProblem>);

impl Problems {
    pub fn push(&mut self, key: &str, value: &str, why: &str) {
        self.push_fix(key, value, why, "");
    }

    pub fn push_fix(&mut self, key: &str, value: &str, why: &str, fix: &str) {
        self.0.push(ConfigProblem {
            key: key.to_owned(),
            value: value.to_owned(),
            why: why.to_owned(),
            fix: fix.to_owned(),
        });
    }

    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    pub fn into_result(self) -> Result<(), Problems> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            write!(f, "{}: {:?}: {}", p.key, p.value, p.why)?;
            if p.fix.is_empty() { writeln!(f) } else { writeln!(f, "; {}", p.fix) }?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The merged configuration and where each environment override came from.
pub struct Merged {
    pub table: Table,
    /// Dotted key → the `BAWABA__…` variable that set it, and its raw value.
    pub from_env: BTreeMap<String, (String, String)>,
}

/// Defaults, then the file, then `BAWABA__…` variables, merged key by key.
/// A file that cannot be read or parsed is a problem, and the other layers
/// are still merged, so that their problems are reported in the same run.
pub fn merge(defaults: &str, file: Option<&Path>, env: &[(String, String)]) -> (Merged, Problems) {
    let mut problems = Problems::default();
    let mut merged: Table = defaults.parse().unwrap_or_else(|e| {
        problems.push("(embedded default)", "", &format!("does not parse: {e}"));
        Table::new()
    });
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<Table>() {
                Ok(table) => overlay(&mut merged, table),
                Err(e) => problems.push_fix(
                    &path.display().to_string(),
                    "",
                    &format!("is not valid TOML: {}", one_line(&e.to_string())),
                    "fix the syntax at that line; nothing else of this file could be checked",
                ),
            },
            Err(e) => problems.push_fix(
                &path.display().to_string(),
                "",
                &format!("cannot be read: {e}"),
                "check the path given to --config",
            ),
        }
    }
    let mut from_env = BTreeMap::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("BAWABA__") else { continue };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|s| s.is_empty()) {
            problems.push(name, raw, "an environment key is BAWABA__SECTION__KEY");
            continue;
        }
        from_env.insert(path.join("."), (name.clone(), raw.clone()));
        set_path(&mut merged, &path, env_value(raw));
    }
    (Merged { table: merged, from_env }, problems)
}

/// How many wrong values one run reports at most (each costs a pass).
const MAX_TYPE_PROBLEMS: usize = 100;

/// Deserialises `merged`, reporting every unknown key and every value of the
/// wrong type, not only serde's first: a wrong value is reported, replaced by
/// its default from `defaults` (or removed, when it has none), and the pass
/// is retried, until it succeeds or nothing more can be repaired.
pub fn deserialize<T: DeserializeOwned>(merged: &Merged, defaults: Option<&Table>) -> (Option<T>, Problems) {
    let mut problems = Problems::default();
    let mut table = merged.table.clone();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let source = |key: &str| merged.from_env.get(key).map(|(v, _)| format!(" (set by {v})")).unwrap_or_default();
    for _ in 0..MAX_TYPE_PROBLEMS {
        let mut unknown = Vec::new();
        let result: Result<T, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
            Value::Table(table.clone()),
            &mut |path: serde_ignored::Path| unknown.push(path.to_string()),
        ));
        for key in unknown {
            if reported.insert(key.clone()) {
                problems.push_fix(
                    &key,
                    &shown(&key, lookup(&table, &key)),
                    &format!("unknown key{}", source(&key)),
                    "check its spelling against config/bawaba.toml, or remove it",
                );
            }
        }
        let error = match result {
            Ok(v) => return (Some(v), problems),
            Err(e) => e,
        };
        let path = error.path().to_string();
        let message = one_line(&error.into_inner().to_string());
        let child = |rest: &str| {
            let field = rest.split('`').next().unwrap_or_default();
            if path == "." { field.to_owned() } else { format!("{path}.{field}") }
        };
        let (key, missing) = if let Some(rest) = message.strip_prefix("missing field `") {
            (child(rest), true)
        } else if let Some(rest) = message.strip_prefix("unknown field `") {
            // `deny_unknown_fields` (the referenced files): the key is the field.
            let field = rest.split('`').next().unwrap_or_default();
            if path.ends_with(&format!(".{field}")) || path == field { (path, false) } else { (child(rest), false) }
        } else {
            (path, false)
        };
        let segments = segments(&key);
        // A variable's value reads as a number or a boolean when it looks
        // like one; where a string is expected, it is that string.
        if let Some((_, raw)) = merged.from_env.get(&key)
            && (message.contains("expected a string") || message.contains("expected path string"))
            && set(&mut table, &segments, Value::String(raw.clone()))
        {
            continue;
        }
        if !reported.insert(key.clone()) {
            break;
        }
        let (why, fix) = explain(&message);
        problems.push_fix(&key, &shown(&key, lookup(&table, &key)), &format!("{why}{}", source(&key)), fix);
        // Repair and go on: the default value, or without the key (or, for a
        // missing key without default, without the table that needs it).
        let repaired = match defaults.and_then(|d| get(d, &segments)) {
            Some(default) => set(&mut table, &segments, default.clone()),
            None if missing => segments.len() > 1 && remove(&mut table, &segments[..segments.len() - 1]),
            None => remove(&mut table, &segments),
        };
        if !repaired {
            break;
        }
    }
    (None, problems)
}

/// Parses one referenced TOML file (clients, purposes, …) into `T`, with
/// every syntax, type and unknown-key problem named under `origin`.
pub fn parse_file<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, Problems> {
    let mut problems = Problems::default();
    let table: Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            problems.push_fix(
                origin,
                "",
                &format!("is not valid TOML: {}", one_line(&e.to_string())),
                "fix the syntax at that line",
            );
            return Err(problems);
        }
    };
    let merged = Merged { table, from_env: BTreeMap::new() };
    let (value, found) = deserialize::<T>(&merged, None);
    for mut p in found.0 {
        p.key = format!("{origin}: {}", p.key);
        problems.0.push(p);
    }
    match value {
        Some(v) if problems.0.is_empty() => Ok(v),
        _ => Err(problems),
    }
}

/// Why a value does not fit, in words, and how to write it instead.
fn explain(message: &str) -> (String, &'static str) {
    let expected = message.split("expected ").nth(1).unwrap_or_default();
    let (why, fix) = if message.starts_with("missing field") {
        ("is required".to_owned(), "add this key")
    } else if message.starts_with("unknown field") {
        ("unknown key".to_owned(), "check its spelling, or remove it")
    } else if ["u8", "u16", "u32", "u64", "usize"].iter().any(|t| expected.starts_with(t)) {
        ("expected a positive integer".to_owned(), "write a whole number without quotes, e.g. 5000")
    } else if ["i32", "i64"].iter().any(|t| expected.starts_with(t)) {
        ("expected an integer".to_owned(), "write a whole number without quotes, e.g. 1000")
    } else if expected.starts_with("a boolean") {
        ("expected true or false".to_owned(), "write true or false, without quotes")
    } else if expected.starts_with("a string") || expected.starts_with("path string") {
        ("expected a string".to_owned(), "put the value in double quotes")
    } else if message.contains("socket address") {
        ("expected an IP address and a port".to_owned(), "write it like \"127.0.0.1:8080\"")
    } else if expected.starts_with("a sequence") {
        ("expected an array".to_owned(), "write it like [\"a\", \"b\"]")
    } else if expected.starts_with("a map") || expected.starts_with("struct") {
        ("expected a table".to_owned(), "write it as a [section] of keys")
    } else {
        (message.to_owned(), "see config/bawaba.toml for this key's form")
    };
    (why, fix)
}

/// The value as a problem may show it: never a secret, never a password.
fn shown(key: &str, value: String) -> String {
    if key.contains("secret") || key.ends_with("_key") && !key.ends_with("_file") {
        "(hidden)".to_owned()
    } else if key == "store.url" {
        super::redacted(&value)
    } else {
        value
    }
}

fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

enum Segment {
    Key(String),
    Index(usize),
}

/// `registries.x.timeout_ms` or `clients[0].scopes` as path segments.
fn segments(dotted: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in dotted.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Segment::Key(rest[..i].to_owned()));
            }
            rest = &rest[i..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some(end) = inner.find(']') else { break };
                if let Ok(n) = inner[..end].parse() {
                    out.push(Segment::Index(n));
                }
                rest = &inner[end + 1..];
            }
        } else if !rest.is_empty() {
            out.push(Segment::Key(rest.to_owned()));
        }
    }
    out
}

fn get<'a>(table: &'a Table, path: &[Segment]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let Segment::Key(k) = first else { return None };
    let mut current = table.get(k)?;
    for seg in rest {
        current = match seg {
            Segment::Key(k) => current.as_table()?.get(k)?,
            Segment::Index(i) => current.as_array()?.get(*i)?,
        };
    }
    Some(current)
}

fn get_mut<'a>(table: &'a mut Table, path: &[Segment]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let Segment::Key(k) = first else { return None };
    let mut current = table.get_mut(k)?;
    for seg in rest {
        current = match seg {
            Segment::Key(k) => current.as_table_mut()?.get_mut(k)?,
            Segment::Index(i) => current.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(current)
}

fn set(table: &mut Table, path: &[Segment], value: Value) -> bool {
    match get_mut(table, path) {
        Some(slot) if *slot != value => {
            *slot = value;
            true
        }
        _ => false,
    }
}

fn remove(table: &mut Table, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    if parents.is_empty() {
        return matches!(last, Segment::Key(k) if table.remove(k).is_some());
    }
    match (get_mut(table, parents), last) {
        (Some(Value::Table(t)), Segment::Key(k)) => t.remove(k).is_some(),
        (Some(Value::Array(a)), Segment::Index(i)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

fn lookup(table: &Table, dotted: &str) -> String {
    match get(table, &segments(dotted)) {
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
