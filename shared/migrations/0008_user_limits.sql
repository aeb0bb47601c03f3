-- Per-user limits (docs/BOT.md, "Limits"): a token bucket per Telegram user for the
-- messages and presses the bot answers. The bucket refills by the database's clock
-- (one clock for every serverless instance), and one statement per update both
-- takes a token and reads the user's chosen language (shared/bot/limits.py).
CREATE TABLE user_rate (
    telegram_id  bigint PRIMARY KEY CHECK (telegram_id > 0),
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL DEFAULT now(),
    allowed      boolean NOT NULL DEFAULT true,
    -- When the user was told to slow down in the current refusal streak: once per streak.
    warned_at    timestamptz
) WITH (fillfactor = 70);

-- The per-user limit on jobs in flight counts these.
CREATE INDEX jobs_in_flight_by_user ON jobs (user_id)
    WHERE state IN ('held', 'queued', 'submitted', 'running');
