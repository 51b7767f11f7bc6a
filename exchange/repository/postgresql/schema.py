"""The PostgreSQL repository's schema, as ordered migrations (applied once each, never edited).

The tables and their meaning follow the embedded schema (:mod:`exchange.repository.sqlite.schema`) one
for one. Times stay RFC 3339 text, exactly as received and as hashed into the log; identifiers that
order results use the ``"C"`` collation so that PostgreSQL sorts them byte for byte, like SQLite. Full-text search is a
generated ``tsvector`` column over the record's title and text (``simple`` configuration).
"""

MIGRATIONS: list[str] = [
    """
CREATE TABLE participants (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    type text NOT NULL,
    jurisdictions text NOT NULL,
    created_at text NOT NULL
);
CREATE TABLE keys (
    kid text COLLATE "C" PRIMARY KEY,
    participant text COLLATE "C" NOT NULL REFERENCES participants (id),
    alg text NOT NULL,
    jwk text NOT NULL,
    thumbprint text NOT NULL,
    valid_from text NOT NULL,
    valid_until text,
    revoked_at text,
    revoked_reason text,
    added_at text NOT NULL,
    log_index bigint
);
CREATE INDEX keys_by_participant ON keys (participant, kid);
CREATE TABLE tokens (
    token_hash text PRIMARY KEY,
    token_id text NOT NULL UNIQUE,
    participant text,
    role text NOT NULL,
    label text,
    created_at text COLLATE "C" NOT NULL,
    revoked_at text
);
CREATE TABLE submissions (
    participant text COLLATE "C" NOT NULL,
    submission_id text COLLATE "C" NOT NULL,
    kind text,
    jws_sha256 text NOT NULL,
    serialization text NOT NULL,
    body bytea NOT NULL,
    received_at text NOT NULL,
    status text NOT NULL,
    kid text,
    payload_sha256 text,
    errors text,
    record text,
    version integer,
    seq bigint,
    log_index bigint,
    decided_at text,
    PRIMARY KEY (participant, submission_id)
);
CREATE INDEX submissions_by_received ON submissions (received_at);
CREATE TABLE record_versions (
    participant text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    action text NOT NULL,
    schema text,
    content json,
    submission_id text NOT NULL,
    kid text NOT NULL,
    jws_sha256 text NOT NULL,
    received_at text NOT NULL,
    accepted_at text NOT NULL,
    log_index bigint NOT NULL UNIQUE,
    seq bigint NOT NULL UNIQUE,
    PRIMARY KEY (participant, kind, record_id, version)
);
CREATE TABLE records (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    withdrawn boolean NOT NULL,
    status text,
    date text,
    title text,
    body text,
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(body, ''))
    ) STORED,
    UNIQUE (participant, kind, record_id)
);
CREATE INDEX records_search ON records USING gin (search);
CREATE TABLE record_terms (
    record bigint NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    facet text NOT NULL,
    term text NOT NULL,
    PRIMARY KEY (facet, term, record)
);
CREATE INDEX record_terms_by_record ON record_terms (record);
CREATE TABLE changes (
    seq bigint PRIMARY KEY,
    participant text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    action text NOT NULL,
    log_index bigint NOT NULL,
    submission_id text NOT NULL,
    kid text NOT NULL,
    received_at text NOT NULL,
    jurisdiction text COLLATE "C"
);
CREATE INDEX changes_by_record ON changes (participant, kind, record_id, seq);
CREATE TABLE log_entries (
    idx bigint PRIMARY KEY,
    entry bytea NOT NULL,
    leaf_hash bytea NOT NULL
);
CREATE TABLE log_nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx)
)
""",
    """
CREATE TABLE log_checkpoints (
    size bigint PRIMARY KEY,
    root bytea NOT NULL,
    note text NOT NULL,
    signed_at text NOT NULL
);
CREATE INDEX submissions_by_log_index ON submissions (log_index)
""",
    """
CREATE TABLE subscriptions (
    id text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    url text NOT NULL,
    kinds text NOT NULL,
    participants text NOT NULL,
    jurisdictions text NOT NULL,
    secret text NOT NULL,
    status text NOT NULL,
    cursor bigint NOT NULL,
    created_at text COLLATE "C" NOT NULL,
    previous_secret text,
    previous_secret_until text,
    failing_since text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at text,
    last_error text,
    lease_owner text,
    lease_until text COLLATE "C"
);
CREATE INDEX subscriptions_by_owner ON subscriptions (owner, created_at);
CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id text NOT NULL,
    seq bigint NOT NULL,
    webhook_id text NOT NULL,
    attempt integer NOT NULL,
    at text NOT NULL,
    status_code integer,
    latency_ms double precision NOT NULL,
    error text
);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id)
""",
    """
ALTER TABLE tokens ADD COLUMN expires_at text
""",
    # unchanged content is not a new version: the current view keeps its content's digest and its seq
    """
ALTER TABLE records ADD COLUMN content_sha256 text, ADD COLUMN seq bigint;
UPDATE records r SET seq = v.seq FROM record_versions v WHERE v.participant = r.participant
    AND v.kind = r.kind AND v.record_id = r.record_id AND v.version = r.version;
ALTER TABLE submissions ADD COLUMN unchanged boolean NOT NULL DEFAULT false
""",
    # review before publication: an editor's decision on a held submission, and on the version it made
    """
ALTER TABLE submissions ADD COLUMN review text;
ALTER TABLE record_versions ADD COLUMN review text, ADD COLUMN endorsements text
""",
    # visibility: who may see each version, its change and (for the current one) the record
    """
ALTER TABLE record_versions ADD COLUMN visibility text NOT NULL DEFAULT 'public', ADD COLUMN readers text;
ALTER TABLE records ADD COLUMN visibility text NOT NULL DEFAULT 'public', ADD COLUMN readers text;
ALTER TABLE changes ADD COLUMN visibility text NOT NULL DEFAULT 'public', ADD COLUMN readers text
""",
]
