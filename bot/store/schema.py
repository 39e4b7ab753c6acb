"""The database schema as numbered migrations; ``PRAGMA user_version`` counts those applied.

Migrations are only appended: an existing file runs just those after its version on open.
"""

from __future__ import annotations

SCHEMA_V1 = """
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    group_id    TEXT NOT NULL,
    parent_id   TEXT,
    kind        TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    guild_id    INTEGER,
    channel_id  INTEGER,
    options     TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    error       TEXT,
    created_at  REAL NOT NULL,
    started_at  REAL,
    finished_at REAL
);
CREATE INDEX jobs_user ON jobs (user_id);
CREATE INDEX jobs_group ON jobs (group_id);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE outputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    candidate   INTEGER NOT NULL,
    text        TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('allow', 'review', 'block')),
    verdict     TEXT NOT NULL,
    timings     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    UNIQUE (job_id, candidate)
);

CREATE TABLE votes (
    output_id   INTEGER NOT NULL REFERENCES outputs (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    value       INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at  REAL NOT NULL,
    PRIMARY KEY (output_id, user_id)
);
CREATE INDEX votes_user ON votes (user_id);
"""

SCHEMA_V2 = """
ALTER TABLE outputs ADD COLUMN image_path TEXT;
"""

SCHEMA_V3 = """
ALTER TABLE jobs ADD COLUMN message_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN message_id INTEGER;
ALTER TABLE outputs ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;

CREATE TABLE guild_settings (
    guild_id         INTEGER PRIMARY KEY,
    mod_channel_id   INTEGER,
    mod_role_id      INTEGER,
    strictness       TEXT NOT NULL DEFAULT 'standard',
    report_threshold INTEGER NOT NULL DEFAULT 3,
    allowed_channels TEXT NOT NULL DEFAULT '[]',
    updated_at       REAL NOT NULL
);

CREATE TABLE reviews (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    output_id       INTEGER NOT NULL UNIQUE REFERENCES outputs (id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('filter', 'report')),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at      REAL NOT NULL,
    decided_at      REAL,
    decided_by      INTEGER,
    note            TEXT,
    card_channel_id INTEGER,
    card_message_id INTEGER
);
CREATE INDEX reviews_pending ON reviews (status, created_at);

CREATE TABLE reports (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
CREATE INDEX reports_user ON reports (user_id);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX audit_guild ON audit (guild_id, created_at);
"""

SCHEMA_V4 = """
ALTER TABLE votes ADD COLUMN own INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN compare INTEGER NOT NULL DEFAULT 0;
ALTER TABLE guild_settings ADD COLUMN consent_mode TEXT NOT NULL DEFAULT 'opt-out';

CREATE TABLE edits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    output_id  INTEGER NOT NULL REFERENCES outputs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX edits_output ON edits (output_id);
CREATE INDEX edits_user ON edits (user_id);

CREATE TABLE picks (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('pick', 'compare')),
    output_id  INTEGER REFERENCES outputs (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, user_id, source)
);
CREATE INDEX picks_user ON picks (user_id);

CREATE TABLE consent (
    user_id    INTEGER PRIMARY KEY,
    choice     TEXT NOT NULL CHECK (choice IN ('in', 'out')),
    updated_at REAL NOT NULL
);
"""

SCHEMA_V5 = """
ALTER TABLE jobs ADD COLUMN reply_handle TEXT;
"""

# When each review decision was announced to the front ends (bot/review/events.py); decisions
# made before this column existed were announced already.
SCHEMA_V6 = """
ALTER TABLE reviews ADD COLUMN announced_at REAL;
UPDATE reviews SET announced_at = decided_at WHERE status != 'pending';
CREATE INDEX reviews_unannounced ON reviews (id) WHERE announced_at IS NULL AND status != 'pending';
"""

# When a finished job's result reached its member (Discord accepted the edit, or the channel
# post went out): a result stored but never shown is delivered at the next start, and the job
# keeps its reply handle until then. Results finished before this column existed count as
# delivered. U+FFFD (a character a token cap cut in two) is dropped from stored text.
SCHEMA_V7 = """
ALTER TABLE jobs ADD COLUMN delivered_at REAL;
UPDATE jobs SET delivered_at = COALESCE(finished_at, created_at) WHERE status = 'done';
CREATE INDEX jobs_undelivered ON jobs (created_at) WHERE status = 'done' AND delivered_at IS NULL;
UPDATE outputs SET text = replace(text, char(65533), '') WHERE instr(text, char(65533)) > 0;
UPDATE edits SET text = replace(text, char(65533), '') WHERE instr(text, char(65533)) > 0;
UPDATE jobs SET prompt = replace(prompt, char(65533), ''),
    options = replace(options, char(65533), '') WHERE instr(prompt || options, char(65533)) > 0;
"""

# Where a job was asked, by name as Discord showed it then ('' where unknown: before V8, CLI,
# direct messages), so the web view can say "guild Poets · #haiku" instead of two snowflakes.
SCHEMA_V8 = """
ALTER TABLE jobs ADD COLUMN guild_name TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN channel_name TEXT NOT NULL DEFAULT '';
"""

# Lineage of /draw's buttons (issue 23): the picture (output) a job's pictures were made from,
# and the operation ("vary-strong", "upscale", "region-centre", "zoom"...). A parent deleted by
# /forget-me leaves the child's operation, without the link.
SCHEMA_V9 = """
ALTER TABLE jobs ADD COLUMN source_output_id INTEGER REFERENCES outputs (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN operation TEXT;
CREATE INDEX jobs_source ON jobs (source_output_id) WHERE source_output_id IS NOT NULL;
"""

# Champion and challenger as `muse promote` last left them (bot/service/arena.py); a row wins
# over MUSE_TEXT_MODEL / MUSE_TEXT_CHALLENGER at start while those name the same two models.
SCHEMA_V10 = """
CREATE TABLE model_roles (
    role       TEXT PRIMARY KEY CHECK (role IN ('champion', 'challenger')),
    model      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""

MIGRATIONS: tuple[str, ...] = (
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
    SCHEMA_V9, SCHEMA_V10,
)  # fmt: skip
