-- How many of a result's sends (messages, files, albums) already reached the chat: a
-- delivery retried after Telegram's flood control resumes there instead of sending again.
ALTER TABLE jobs ADD COLUMN delivery_sent integer NOT NULL DEFAULT 0;
