"""The embedded repository's schema, as ordered migrations (applied once each, never edited)."""

MIGRATIONS: list[str] = [
    """
CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    jurisdictions TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE keys (
    kid TEXT PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants (id),
    alg TEXT NOT NULL,
    jwk TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT,
    revoked_at TEXT,
    revoked_reason TEXT,
    added_at TEXT NOT NULL,
    log_index INTEGER
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL UNIQUE,
    participant TEXT,
    role TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE submissions (
    participant TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    kind TEXT,
    jws_sha256 TEXT NOT NULL,
    serialization TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    status TEXT NOT NULL,
    kid TEXT,
    payload_sha256 TEXT,
    errors TEXT,
    record TEXT,
    version INTEGER,
    seq INTEGER,
    log_index INTEGER,
    decided_at TEXT,
    PRIMARY KEY (participant, submission_id)
);
CREATE INDEX submissions_by_received ON submissions (received_at);
CREATE TABLE record_versions (
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    schema TEXT,
    content TEXT,
    submission_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    jws_sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    log_index INTEGER NOT NULL UNIQUE,
    seq INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (participant, kind, record_id, version)
);
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    withdrawn INTEGER NOT NULL,
    status TEXT,
    date TEXT,
    UNIQUE (participant, kind, record_id)
);
CREATE TABLE record_terms (
    record INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    facet TEXT NOT NULL,
    term TEXT NOT NULL,
    PRIMARY KEY (facet, term, record)
) WITHOUT ROWID;
CREATE INDEX record_terms_by_record ON record_terms (record);
CREATE VIRTUAL TABLE records_fts USING fts5 (title, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    submission_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    received_at TEXT NOT NULL,
    jurisdiction TEXT
);
CREATE INDEX changes_by_record ON changes (participant, kind, record_id, seq);
CREATE TABLE log_entries (
    idx INTEGER PRIMARY KEY,
    entry BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID
""",
    """
CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
CREATE INDEX submissions_by_log_index ON submissions (log_index)
""",
    """
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    url TEXT NOT NULL,
    kinds TEXT NOT NULL,
    participants TEXT NOT NULL,
    jurisdictions TEXT NOT NULL,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TEXT,
    failing_since TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until TEXT
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    webhook_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    status_code INTEGER,
    latency_ms REAL NOT NULL,
    error TEXT
);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id)
""",
    """
ALTER TABLE tokens ADD COLUMN expires_at TEXT
""",
    # unchanged content is not a new version: the current view keeps its content's digest and its seq
    """
ALTER TABLE records ADD COLUMN content_sha256 TEXT;
ALTER TABLE records ADD COLUMN seq INTEGER;
UPDATE records SET seq = (SELECT v.seq FROM record_versions v WHERE v.participant = records.participant
    AND v.kind = records.kind AND v.record_id = records.record_id AND v.version = records.version);
ALTER TABLE submissions ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0
""",
    # review before publication: an editor's decision on a held submission, and on the version it made
    """
ALTER TABLE submissions ADD COLUMN review TEXT;
ALTER TABLE record_versions ADD COLUMN review TEXT;
ALTER TABLE record_versions ADD COLUMN endorsements TEXT
""",
    # visibility: who may see each version, its change and (for the current one) the record
    """
ALTER TABLE record_versions ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE record_versions ADD COLUMN readers TEXT;
ALTER TABLE records ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE records ADD COLUMN readers TEXT;
ALTER TABLE changes ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE changes ADD COLUMN readers TEXT
""",
]
