-- Delivery bookkeeping: a failed or expired job's notice is sent once (its
-- time is recorded after Telegram accepted it), and the archived copies of a
-- result are remembered for "send again" after KIE's links expire.

ALTER TABLE jobs
    ADD COLUMN notified_at timestamptz,
    ADD COLUMN archived jsonb;
