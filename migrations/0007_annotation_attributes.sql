-- projection image_labels (issue 12, gap 11): each annotation's per-object attribute values,
-- a JSON object ('{}' when it has none). No stored event carries attributes yet when this
-- runs, so the rows already there are right with the default and nothing is rebuilt.
ALTER TABLE annotations ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
