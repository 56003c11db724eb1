//! Retention: events older than the retention period move to a signed archive
//! file, then leave the live store.
//!
//! An archive ends at a signed checkpoint, so the live log that remains begins
//! right after one and still verifies. The file is NDJSON: a header line, the
//! events in chain order, the checkpoints that cover them (and the one just
//! before, which anchors the first event), and a seal line whose Ed25519
//! signature covers the SHA-256 of every byte before it.

use super::{AuditEvent, ChainVerifier, Checkpoint, CheckpointKey, TrustedKeys, VerifyReport};
use crate::store::Store;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Header { format: String, from_seq: i64, through_seq: i64, created_at: String },
    Event(Box<AuditEvent>),
    Checkpoint(Checkpoint),
    Seal { sha256: String, key_id: String, signature: String },
}

const FORMAT: &str = "bawaba-audit-archive/1";

fn seal_payload(sha256: &str) -> String {
    format!("{FORMAT}\nsha256={sha256}\n")
}

/// What one archive run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub file: PathBuf,
    pub from_seq: i64,
    pub through_seq: i64,
    pub events: u64,
}

/// Writes a file and its hash as it goes.
struct HashingWriter {
    file: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
}

impl HashingWriter {
    fn line(&mut self, line: &Line) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.hash.update(&bytes);
        self.file.write_all(&bytes)
    }
}

/// Moves the events signed before `cutoff` (RFC 3339) to a new archive file
/// under `dir`, then removes them from the store. Nothing is removed unless
/// the file is complete and on disk. None: nothing old enough.
pub async fn archive(store: &Store, key: &CheckpointKey, cutoff: &str, dir: &Path) -> anyhow::Result<Option<Archived>> {
    let Some(end) = store.checkpoint_before(cutoff).await? else { return Ok(None) };
    let Some(first) = store.events_after(0, 1).await?.into_iter().next() else { return Ok(None) };
    if first.seq > end.seq {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("audit.archive_dir {}", dir.display()))?;
    let name = format!("audit-{:012}-{:012}.ndjson", first.seq, end.seq);
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut w = HashingWriter { file: std::io::BufWriter::new(file), hash: Sha256::new() };
    w.line(&Line::Header {
        format: FORMAT.to_owned(),
        from_seq: first.seq,
        through_seq: end.seq,
        created_at: super::now_rfc3339(),
    })?;
    let mut after = first.seq - 1;
    let mut count = 0u64;
    'pages: loop {
        let page = store.events_after(after, 5000).await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if e.seq > end.seq {
                break 'pages;
            }
            w.line(&Line::Event(Box::new(e.clone())))?;
            after = e.seq;
            count += 1;
        }
    }
    if after != end.seq {
        let _ = std::fs::remove_file(&partial);
        anyhow::bail!("the live log ends at {after} before the checkpoint at {}: run `bawaba audit verify`", end.seq);
    }
    for c in store.checkpoints().await?.into_iter().filter(|c| c.seq >= first.seq - 1 && c.seq <= end.seq) {
        w.line(&Line::Checkpoint(c))?;
    }
    let sha256 = hex::encode(w.hash.clone().finalize());
    let signature = key.sign_bytes(seal_payload(&sha256).as_bytes());
    w.line(&Line::Seal { sha256: sha256.clone(), key_id: key.id().to_owned(), signature })?;
    let file = w.file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    store.remove_archived(end.seq, &name, &sha256, &super::now_rfc3339()).await?;
    Ok(Some(Archived { file: path, from_seq: first.seq, through_seq: end.seq, events: count }))
}

/// An archive file's verification: its seal, its chain, its checkpoints.
#[derive(Debug, Clone)]
pub struct ArchiveReport {
    pub from_seq: i64,
    pub through_seq: i64,
    pub last_hash: Option<String>,
    pub report: VerifyReport,
}

fn bad(seq: i64, reason: impl Into<String>) -> VerifyReport {
    VerifyReport {
        ok: false,
        checked: 0,
        head_seq: None,
        head_hash: None,
        first_bad_seq: Some(seq),
        signed_through_seq: None,
        reason: Some(reason.into()),
    }
}

/// Verifies an archive file against `trusted` keys.
pub fn verify_archive(path: &Path, trusted: &TrustedKeys) -> anyhow::Result<ArchiveReport> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hash = Sha256::new();
    let mut header = None;
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    let mut seal = None;
    let mut garbled = false;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        if seal.is_some() {
            anyhow::bail!("{}: data after the seal", path.display());
        }
        let Ok(parsed) = serde_json::from_slice::<Line>(&line) else {
            // Edited into something that is no archive line (an unknown
            // action, say): it counts toward the hash, so the seal shows it.
            garbled = true;
            hash.update(&line);
            hash.update(b"\n");
            continue;
        };
        match parsed {
            Line::Seal { sha256, key_id, signature } => seal = Some((sha256, key_id, signature)),
            other => {
                hash.update(&line);
                hash.update(b"\n");
                match other {
                    Line::Header { format, from_seq, through_seq, .. } if format == FORMAT => {
                        header = Some((from_seq, through_seq))
                    }
                    Line::Header { format, .. } => anyhow::bail!("{}: unknown format {format}", path.display()),
                    Line::Event(e) => events.push(e),
                    Line::Checkpoint(c) => checkpoints.push(c),
                    Line::Seal { .. } => unreachable!("handled above"),
                }
            }
        }
    }
    let (from_seq, through_seq) = header.with_context(|| format!("{}: no header", path.display()))?;
    let mut result = ArchiveReport { from_seq, through_seq, last_hash: None, report: bad(from_seq, "") };
    let Some((sha256, key_id, signature)) = seal else {
        result.report = bad(from_seq, "the archive has no seal (incomplete file)");
        return Ok(result);
    };
    if hex::encode(hash.finalize()) != sha256
        || !trusted.verify_bytes(&key_id, seal_payload(&sha256).as_bytes(), &signature)
    {
        result.report = bad(from_seq, "the archive's seal does not match its content or a trusted key");
        return Ok(result);
    }
    if garbled {
        result.report = bad(from_seq, "a line of the archive is not an archive line");
        return Ok(result);
    }
    let mut v = ChainVerifier::new(checkpoints, trusted);
    for event in events {
        if !v.feed(&event) {
            result.report = v.report;
            return Ok(result);
        }
    }
    let report = v.finish(Some(through_seq));
    result.last_hash = report.head_hash.clone();
    result.report = if report.ok && report.head_seq != Some(through_seq) {
        bad(report.head_seq.unwrap_or(from_seq - 1) + 1, "the archive ends before its header says")
    } else {
        report
    };
    Ok(result)
}
