-- The length of the audio or video a job was quoted on (input name → seconds), so that
-- "repeat" from history quotes the same upload the same way (not at the model's maximum).
ALTER TABLE jobs ADD COLUMN media_seconds jsonb;
