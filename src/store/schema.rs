//! Schema migrations, applied in order at start-up. Each entry is applied once
//! and recorded in `schema_migrations`; never edit an applied entry, add one.

pub const SQLITE: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    at           TEXT NOT NULL,
    client_id    TEXT,
    center_id    TEXT,
    operator_id  TEXT,
    action       TEXT NOT NULL,
    subject      TEXT,
    purpose      TEXT,
    case_ref     TEXT,
    outcome      TEXT NOT NULL,
    http_status  INTEGER NOT NULL,
    cache        TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_client ON audit_events (client_id, seq);
CREATE INDEX audit_events_operator ON audit_events (operator_id, seq);
CREATE INDEX audit_events_center ON audit_events (center_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
"#,
)];
