-- projections image_labels and project_directory (issue 12, gap 11): each annotation's
-- per-object attribute values, a JSON object ('{}' when it has none), and each project's
-- attribute definitions, a JSON list. No stored event carries attributes yet when this runs,
-- so the rows already there are right with the defaults and nothing is rebuilt.
ALTER TABLE annotations ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE projects ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]';
