-- The auth store (labelwright.bootstrap.auth_database): login and API tokens, kept apart from
-- the read models, which `labelwright projections rebuild` or a wipe may drop at will.
-- Embedded: DATA_DIR/auth.sqlite; PostgreSQL: the schema labelwright_auth (its connections'
-- search_path), so these names never meet the read-model tables of the public schema.
-- Applied by migrations/apply.py (apply_auth_migrations), recorded in this store's own
-- schema_version. Only a hash of each token is stored.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
-- revoke_user matches usernames case-insensitively (lower(), ASCII names).
CREATE INDEX auth_tokens_by_user ON auth_tokens ((lower(username)));
