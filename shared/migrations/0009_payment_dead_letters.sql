-- A successful_payment whose update kept failing is not dropped like other poison
-- updates: Telegram has taken the money. It is kept here, and the sweeper credits it
-- (idempotently, by its charge id) once whatever failed is fixed.
CREATE TABLE payment_dead_letters (
    bot_id       bigint NOT NULL,
    update_id    bigint NOT NULL,
    telegram_id  bigint NOT NULL,
    payment      jsonb NOT NULL,
    last_error   text CHECK (length(last_error) <= 500),
    outcome      text CHECK (length(outcome) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX payment_dead_letters_open ON payment_dead_letters (created_at)
    WHERE resolved_at IS NULL;
