-- Read-model tables (projections/) and the web layer's token table.
-- Portable SQL for SQLite and PostgreSQL: TEXT, INTEGER, BIGINT, DOUBLE PRECISION; JSON as TEXT.
-- migrations/apply.py drops -- comments and splits statements on semicolons, so string
-- literals must not contain one.

-- Each projection's position in the event log, written in the same transaction as its rows.
CREATE TABLE projection_tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Login and API tokens (web layer). Only a hash of the token is stored.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX auth_tokens_by_user ON auth_tokens (username);

-- projection image_labels: current state of every image and its annotations.
CREATE TABLE images (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    position BIGINT NOT NULL,
    added_position BIGINT NOT NULL,
    added_by TEXT,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    annotation_count INTEGER NOT NULL,
    submitted_by TEXT
);
CREATE INDEX images_by_project ON images (project_id, added_position, image_id);
CREATE INDEX images_by_project_status ON images (project_id, status, added_position, image_id);

CREATE TABLE annotations (
    image_id TEXT NOT NULL,
    annotation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    label TEXT NOT NULL,
    geometry TEXT NOT NULL,
    source TEXT NOT NULL,
    model_name TEXT,
    model_version TEXT,
    score DOUBLE PRECISION,
    status TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_by TEXT,
    updated_by TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, annotation_id)
);
CREATE UNIQUE INDEX annotations_in_order ON annotations (image_id, seq);

CREATE TABLE image_status_counts (
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, status)
);

-- projection image_history: one row per image event.
CREATE TABLE history (
    image_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    position BIGINT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT,
    at TEXT NOT NULL,
    command_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (image_id, version)
);

CREATE TABLE history_images (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    added_position BIGINT NOT NULL
);
CREATE INDEX history_images_by_project ON history_images (project_id, added_position, image_id);

-- projection annotator_metrics: counters per (project, user).
CREATE TABLE annotator_metrics (
    project_id TEXT NOT NULL,
    username TEXT NOT NULL,
    created BIGINT NOT NULL,
    edited BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    prelabels_accepted BIGINT NOT NULL,
    prelabels_edited BIGINT NOT NULL,
    prelabels_rejected BIGINT NOT NULL,
    iou_sum DOUBLE PRECISION NOT NULL,
    iou_count BIGINT NOT NULL,
    images_submitted BIGINT NOT NULL,
    review_approvals BIGINT NOT NULL,
    review_rejections BIGINT NOT NULL,
    reviews_given BIGINT NOT NULL,
    assists BIGINT NOT NULL,
    active_seconds DOUBLE PRECISION NOT NULL,
    first_at TEXT,
    last_at TEXT,
    PRIMARY KEY (project_id, username)
);

CREATE TABLE metric_images (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    submitted_by TEXT
);

-- projection prelabel_audit: one row per pre-label and what people did with it.
CREATE TABLE prelabel_audit (
    image_id TEXT NOT NULL,
    annotation_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    model TEXT NOT NULL,
    label TEXT NOT NULL,
    score DOUBLE PRECISION,
    bucket TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT,
    iou DOUBLE PRECISION,
    PRIMARY KEY (image_id, annotation_id)
);
CREATE INDEX prelabel_audit_by_project ON prelabel_audit (project_id);

CREATE TABLE prelabel_images (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL
);

-- projection project_directory: projects, members and users (never password hashes).
CREATE TABLE projects (
    project_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    classes TEXT NOT NULL,
    annotation_types TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_position BIGINT NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX projects_in_order ON projects (created_position);

CREATE TABLE members (
    project_id TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (project_id, username)
);
CREATE INDEX members_by_user ON members (username);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_by_id ON users (user_id);
