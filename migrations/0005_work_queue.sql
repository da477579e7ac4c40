-- projection work_queue: leases handed out by the work queue, assignments and priority images
-- (domain/work_queue.py). Times are seconds since the epoch (UTC), so "held now" is one
-- comparison. username is NULL when the image's last lease ended (submitted, reviewed,
-- skipped); expires_at already includes renewals by the holder's own work on the image.
CREATE TABLE queue_leases (
    image_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    username TEXT,
    granted_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    seconds INTEGER NOT NULL,
    skipped_by TEXT,
    skipped_until DOUBLE PRECISION
);
CREATE INDEX queue_leases_by_holder ON queue_leases (project_id, username, expires_at);

CREATE TABLE queue_assignments (
    project_id TEXT NOT NULL,
    username TEXT NOT NULL,
    seq INTEGER NOT NULL,
    image_id TEXT NOT NULL,
    PRIMARY KEY (project_id, username, seq)
);

CREATE TABLE queue_priority (
    project_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    image_id TEXT NOT NULL,
    PRIMARY KEY (project_id, seq)
);
CREATE INDEX queue_assignments_by_image ON queue_assignments (project_id, image_id);
