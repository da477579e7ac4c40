-- projection prelabel_audit (issue 12): the class a person left on each pre-label (relabels
-- apart from geometry corrections, the proposed -> final class confusion) and the registered
-- model that made it. Outcomes are reclassified (relabeled; restored pre-labels proposed
-- again), so the projection is emptied and rebuilt from the event log.
ALTER TABLE prelabel_audit ADD COLUMN final_label TEXT;
ALTER TABLE prelabel_audit ADD COLUMN model_id TEXT;
DELETE FROM prelabel_audit;
DELETE FROM prelabel_images;
UPDATE projection_tracking SET position = 0 WHERE name = 'prelabel_audit';
