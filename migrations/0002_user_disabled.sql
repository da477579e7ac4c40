-- projection project_directory: whether a user's account is disabled (UserDisabled /
-- UserEnabled events). Every user recorded before these events existed is enabled.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
