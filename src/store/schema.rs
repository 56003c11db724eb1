//! Schema migrations, applied in order at start-up. Each entry is applied once
//! and recorded in `schema_migrations`; never edit an applied entry, add one.

pub const SQLITE: &[(i64, &str)] = &[
    (
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
    ),
    (
        2,
        r#"
CREATE TABLE security_checks (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    national_id        TEXT NOT NULL,
    check_type         TEXT NOT NULL,
    status             TEXT NOT NULL,
    ticket             TEXT,
    submitted_at       TEXT NOT NULL,
    decided_at         TEXT,
    next_poll_at       TEXT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    callback_url       TEXT,
    callback_state     TEXT,
    callback_attempts  INTEGER NOT NULL DEFAULT 0,
    next_callback_at   TEXT
);
CREATE INDEX security_checks_due ON security_checks (status, next_poll_at);
CREATE INDEX security_checks_callbacks ON security_checks (callback_state, next_callback_at);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE sms_messages (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    to_e164          TEXT NOT NULL,
    case_ref         TEXT,
    lang             TEXT NOT NULL,
    status_key       TEXT,
    text             TEXT NOT NULL,
    encoding         TEXT NOT NULL,
    segments         INTEGER NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    sent_at          TEXT,
    delivered_at     TEXT,
    last_error       TEXT,
    next_attempt_at  TEXT NOT NULL,
    smsc_id          TEXT
);
CREATE INDEX sms_messages_due ON sms_messages (status, next_attempt_at);
CREATE INDEX sms_messages_case ON sms_messages (to_e164, case_ref, created_at);
CREATE INDEX sms_messages_smsc ON sms_messages (smsc_id);
CREATE TABLE sms_history (
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    at          TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX sms_history_message ON sms_history (message_id, at);
CREATE TABLE sms_idempotency (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE TABLE sms_opt_outs (
    phone  TEXT PRIMARY KEY,
    at     TEXT NOT NULL
);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE audit_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    hash            TEXT NOT NULL,
    checkpoint_seq  INTEGER NOT NULL
);
INSERT INTO audit_head (id, seq, hash, checkpoint_seq)
SELECT 1, COALESCE((SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '0000000000000000000000000000000000000000000000000000000000000000'),
       0;
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    prev_seq   INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE TABLE audit_archives (
    through_seq  INTEGER PRIMARY KEY,
    file         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    at           TEXT NOT NULL
);
"#,
    ),
    (
        5,
        r#"
CREATE TABLE receipts (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    code        TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX receipts_expiry ON receipts (expires_at);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE citizen_watches (
    national_id      TEXT PRIMARY KEY,
    phone            TEXT NOT NULL,
    lang             TEXT NOT NULL,
    since            TEXT NOT NULL,
    last_alert_at    TEXT
);
CREATE INDEX citizen_watches_phone ON citizen_watches (phone);
"#,
    ),
    (
        7,
        r#"
CREATE TABLE claim_mismatches (
    client_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    claim       TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX claim_mismatches_key ON claim_mismatches (client_id, subject, at);
CREATE INDEX claim_mismatches_at ON claim_mismatches (at);
CREATE TABLE claim_hash_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  TEXT NOT NULL
);
"#,
    ), // The stats' summary (see `audit_summary`).
    (8, super::audit_summary::SQLITE_MIGRATION),
    // One row per distinct mismatching value (see `guess_queries`).
    (9, super::guess_queries::MIGRATION),
    // The summary added per batch by the appender, not per row by a trigger.
    (10, super::audit_summary::SQLITE_BATCHES_MIGRATION),
];

/// The PostgreSQL schema: the same tables, with 64-bit integers and a
/// serial tie-break for the SMS history. Versions count separately from SQLite's.
pub const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
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
    http_status  BIGINT NOT NULL,
    cache        TEXT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);
CREATE INDEX audit_events_client ON audit_events (client_id, seq);
CREATE INDEX audit_events_operator ON audit_events (operator_id, seq);
CREATE INDEX audit_events_center ON audit_events (center_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TABLE audit_head (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    seq             BIGINT NOT NULL,
    hash            TEXT NOT NULL,
    checkpoint_seq  BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, checkpoint_seq)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    prev_seq   BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE TABLE audit_archives (
    through_seq  BIGINT PRIMARY KEY,
    file         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE TABLE security_checks (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    national_id        TEXT NOT NULL,
    check_type         TEXT NOT NULL,
    status             TEXT NOT NULL,
    ticket             TEXT,
    submitted_at       TEXT NOT NULL,
    decided_at         TEXT,
    next_poll_at       TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    callback_url       TEXT,
    callback_state     TEXT,
    callback_attempts  BIGINT NOT NULL DEFAULT 0,
    next_callback_at   TEXT
);
CREATE INDEX security_checks_due ON security_checks (status, next_poll_at);
CREATE INDEX security_checks_callbacks ON security_checks (callback_state, next_callback_at);
CREATE TABLE sms_messages (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    to_e164          TEXT NOT NULL,
    case_ref         TEXT,
    lang             TEXT NOT NULL,
    status_key       TEXT,
    text             TEXT NOT NULL,
    encoding         TEXT NOT NULL,
    segments         BIGINT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    sent_at          TEXT,
    delivered_at     TEXT,
    last_error       TEXT,
    next_attempt_at  TEXT NOT NULL,
    smsc_id          TEXT
);
CREATE INDEX sms_messages_due ON sms_messages (status, next_attempt_at);
CREATE INDEX sms_messages_case ON sms_messages (to_e164, case_ref, created_at);
CREATE INDEX sms_messages_smsc ON sms_messages (smsc_id);
CREATE TABLE sms_history (
    n           BIGSERIAL PRIMARY KEY,
    message_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    at          TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX sms_history_message ON sms_history (message_id, at);
CREATE TABLE sms_idempotency (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    body_hash   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE TABLE sms_opt_outs (
    phone  TEXT PRIMARY KEY,
    at     TEXT NOT NULL
);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE receipts (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    code        TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX receipts_expiry ON receipts (expires_at);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE citizen_watches (
    national_id      TEXT PRIMARY KEY,
    phone            TEXT NOT NULL,
    lang             TEXT NOT NULL,
    since            TEXT NOT NULL,
    last_alert_at    TEXT
);
CREATE INDEX citizen_watches_phone ON citizen_watches (phone);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE claim_mismatches (
    client_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    claim       TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX claim_mismatches_key ON claim_mismatches (client_id, subject, at);
CREATE INDEX claim_mismatches_at ON claim_mismatches (at);
CREATE TABLE claim_hash_key (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    key  TEXT NOT NULL
);
"#,
    ),
    (5, super::audit_summary::POSTGRES_MIGRATION),
    // A governorate's centers are a range of center IDs in byte order, which
    // a database's own collation need not be (en_US ignores the hyphen).
    (6, r#"CREATE INDEX audit_summary_center_bytes ON audit_summary (center_id COLLATE "C", day);"#),
    // One row per distinct mismatching value (see `guess_queries`).
    (7, super::guess_queries::MIGRATION),
];

#[cfg(test)]
mod tests {
    use sha2::Digest;

    /// An applied migration is never edited (a store that applied it would
    /// keep the old text's effect): each text is pinned by its SHA-256. A new
    /// migration adds its hash here; a changed hash is a mistake.
    #[test]
    fn applied_migrations_keep_their_text() {
        const SQLITE_PINNED: &[&str] = &[
            "53cfc854f06164444e1a1c8b03e52cd063ccb83b1cdad821f791f45b247e77af",
            "02575c74edea48415a293b8ebef4adfe98ceac4b705361aad0bc6ae34331054d",
            "87547cee3d9c223983d7bd5632d9a6202e2f1b98aa866f434e0dd038779f7dcc",
            "8d621351356128487922d8905c5d0876780b603ca7c1066ab95f360a27a6f26a",
            "38a3fb6b3a86b4a6428d8e3985a70ff024f2f2c43963b963af91328a99b73393",
            "b0093cf48ef1c6bd070bd08ef86b95998af459482caa22e228361cdab8babefd",
            "1ed6596e2e8494c7fe5fec5a384c71d2b191c1cc889951c6d676b506eaedd63d",
            "cc8e38f8bffae0989521d39ef0be1845105697f00f790416c7ac50b126541506",
            "873f87b9346c929fc09cf6a3d3952ca01b19f771b0b4eb8d5d6a9c2f48c9f729",
            "f6e09a3bd77af73cc45f0db1339f0fd32db2e93c74015323feda583221739a5a",
        ];
        const POSTGRES_PINNED: &[&str] = &[
            "6c222fd3ddb629efcd35dbf89156c2e279802d6e2b1e09e5c035e2655b665fb6",
            "38a3fb6b3a86b4a6428d8e3985a70ff024f2f2c43963b963af91328a99b73393",
            "b0093cf48ef1c6bd070bd08ef86b95998af459482caa22e228361cdab8babefd",
            "cdb79bbbf4f67a7a6cdd15a8d28f520b9e02c0c3b951fc410e03d1d25d6659d1",
            "37e0fa37b37d6b7165937b566212a27b140edd1ab56c75cecf9c64f54b53aaff",
            "fb437b397803513ce3c549d00958bcdedd594c7bfefbfb734a665ce0ef8d2f46",
            "873f87b9346c929fc09cf6a3d3952ca01b19f771b0b4eb8d5d6a9c2f48c9f729",
        ];
        for (store, migrations, pinned) in
            [("SQLite", super::SQLITE, SQLITE_PINNED), ("PostgreSQL", super::POSTGRES, POSTGRES_PINNED)]
        {
            assert_eq!(migrations.len(), pinned.len(), "{store}: a migration without its pinned hash");
            for ((version, sql), expected) in migrations.iter().zip(pinned) {
                let found = hex::encode(sha2::Sha256::digest(sql.as_bytes()));
                assert_eq!(&found, expected, "{store} migration {version} changed: add a migration instead");
            }
        }
    }
}
