-- projection image_scores: a score job's newest score of each image, per model (issue 11,
-- active learning). Rebuilt from the ScoredShard events like every read model.
-- probabilities: little-endian float32 bytes; embedding: little-endian float16 bytes (or NULL).
-- BYTEA is PostgreSQL's binary type; SQLite stores the bytes as given.
CREATE TABLE image_scores (
    model_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    least_confidence DOUBLE PRECISION,
    margin DOUBLE PRECISION,
    entropy DOUBLE PRECISION,
    stability DOUBLE PRECISION,
    probabilities BYTEA NOT NULL,
    embedding BYTEA,
    dims INTEGER NOT NULL,
    boxes INTEGER NOT NULL,
    PRIMARY KEY (model_id, image_id)
);
-- The newest position of a model's scores (the selection cache's key) without a scan.
CREATE INDEX image_scores_by_model_position ON image_scores (model_id, position);
