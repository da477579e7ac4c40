-- projection assist_audit: one row per assist proposal, its clicks and what people did with it.
CREATE TABLE assist_audit (
    image_id TEXT NOT NULL,
    annotation_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    engine TEXT NOT NULL,
    mode TEXT NOT NULL,
    output TEXT NOT NULL,
    clicks INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT,
    iou DOUBLE PRECISION,
    PRIMARY KEY (image_id, annotation_id)
);
CREATE INDEX assist_audit_by_project ON assist_audit (project_id);

CREATE TABLE assist_images (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL
);
