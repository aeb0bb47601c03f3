-- The foundation schema. Every invariant the database can hold by itself is a
-- constraint here, so no code path (or hand-written SQL) can break it.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    telegram_id     bigint NOT NULL UNIQUE CHECK (telegram_id > 0),
    username        text CHECK (length(username) <= 64),
    first_name      text CHECK (length(first_name) <= 256),
    language        text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    referrer_id     bigint REFERENCES users (id),
    start_payload   text CHECK (length(start_payload) <= 64),
    blocked_bot_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_no_self_referral CHECK (referrer_id IS NULL OR referrer_id <> id)
);

-- available = balance - held, and it never goes below zero. Every ledger call
-- rewrites its wallet row: free space per page keeps those updates HOT.
CREATE TABLE wallets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL UNIQUE REFERENCES users (id),
    balance     bigint NOT NULL DEFAULT 0,
    held        bigint NOT NULL DEFAULT 0,
    version     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_held_nonnegative CHECK (held >= 0),
    CONSTRAINT wallets_available_nonnegative CHECK (balance - held >= 0)
) WITH (fillfactor = 70);

-- A reservation of money for one job: open, then resolved exactly once.
CREATE TABLE holds (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet_id    bigint NOT NULL REFERENCES wallets (id),
    ref          text NOT NULL UNIQUE CHECK (length(ref) BETWEEN 1 AND 200),
    amount       bigint NOT NULL CHECK (amount > 0),
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'captured', 'released', 'expired')),
    captured     bigint NOT NULL DEFAULT 0,
    refunded     bigint NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    CONSTRAINT holds_captured_within_amount CHECK (captured BETWEEN 0 AND amount),
    CONSTRAINT holds_refunded_within_captured CHECK (refunded BETWEEN 0 AND captured),
    CONSTRAINT holds_only_captured_has_capture CHECK (status = 'captured' OR captured = 0),
    CONSTRAINT holds_resolved_iff_not_open CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE status = 'open';

-- Append-only. Each entry: the operation's magnitude (`amount`, always > 0),
-- its signed effect on balance and held, the wallet after it, and the unique
-- idempotency `ref`. `params` is the canonical form of the request, compared
-- on replay.
CREATE TABLE ledger (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet_id      bigint NOT NULL REFERENCES wallets (id),
    kind           text NOT NULL
                   CHECK (kind IN ('topup', 'bonus', 'hold', 'capture', 'release', 'refund',
                                   'adjustment')),
    ref            text NOT NULL UNIQUE CHECK (length(ref) BETWEEN 1 AND 200),
    amount         bigint NOT NULL CHECK (amount > 0),
    balance_delta  bigint NOT NULL,
    held_delta     bigint NOT NULL,
    balance_after  bigint NOT NULL,
    held_after     bigint NOT NULL,
    hold_id        bigint REFERENCES holds (id),
    params         text NOT NULL,
    reason         text CHECK (length(reason) <= 500),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_after_consistent CHECK (held_after >= 0 AND balance_after - held_after >= 0),
    CONSTRAINT ledger_effect_matches_kind CHECK (
        CASE kind
            WHEN 'topup'      THEN balance_delta = amount AND held_delta = 0 AND hold_id IS NULL
            WHEN 'bonus'      THEN balance_delta = amount AND held_delta = 0 AND hold_id IS NULL
            WHEN 'hold'       THEN balance_delta = 0 AND held_delta = amount AND hold_id IS NOT NULL
            WHEN 'capture'    THEN balance_delta = -amount AND held_delta < 0 AND -held_delta >= amount
                                   AND hold_id IS NOT NULL
            WHEN 'release'    THEN balance_delta = 0 AND held_delta = -amount AND hold_id IS NOT NULL
            WHEN 'refund'     THEN balance_delta = amount AND held_delta = 0 AND hold_id IS NOT NULL
            WHEN 'adjustment' THEN abs(balance_delta) = amount AND held_delta = 0 AND hold_id IS NULL
                                   AND length(btrim(coalesce(reason, ''))) > 0
        END
    )
);
-- A hold has one opening entry and at most one resolution (capture or release).
CREATE UNIQUE INDEX ledger_one_opening_per_hold ON ledger (hold_id) WHERE kind = 'hold';
CREATE UNIQUE INDEX ledger_one_resolution_per_hold ON ledger (hold_id)
    WHERE kind IN ('capture', 'release');
CREATE INDEX ledger_by_wallet ON ledger (wallet_id, id);

CREATE FUNCTION ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'LD009';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();

-- A generation, from the wizard to the delivered result (states: docs/ARCHITECTURE.md).
CREATE TABLE jobs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           bigint NOT NULL REFERENCES users (id),
    model_id          text NOT NULL CHECK (length(model_id) BETWEEN 1 AND 200),
    state             text NOT NULL DEFAULT 'draft'
                      CHECK (state IN ('draft', 'quoted', 'held', 'queued', 'submitted', 'running',
                                       'succeeded', 'delivered', 'failed', 'expired', 'canceled')),
    inputs            jsonb NOT NULL DEFAULT '{}'::jsonb,
    price_kopecks     bigint CHECK (price_kopecks > 0),
    client_ref        text UNIQUE CHECK (length(client_ref) BETWEEN 1 AND 200),
    hold_ref          text UNIQUE CHECK (length(hold_ref) BETWEEN 1 AND 200),
    kie_task_id       text UNIQUE CHECK (length(kie_task_id) BETWEEN 1 AND 200),
    result            jsonb,
    error_code        text CHECK (length(error_code) <= 64),
    error_message     text CHECK (length(error_message) <= 2000),
    credits_consumed  numeric CHECK (credits_consumed >= 0),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    eta_at            timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT jobs_priced_after_draft CHECK (state = 'draft' OR price_kopecks IS NOT NULL),
    CONSTRAINT jobs_hold_ref_once_held CHECK (
        state IN ('draft', 'quoted', 'canceled') OR hold_ref IS NOT NULL)
);
CREATE INDEX jobs_by_user ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_in_flight_by_eta ON jobs (eta_at) WHERE state IN ('submitted', 'running');

-- aiogram FSM state and data per storage key, with an expiry.
CREATE TABLE ui_state (
    key         text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 256),
    state       text CHECK (length(state) <= 256),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ui_state_by_expiry ON ui_state (expires_at);

-- Telegram retries a webhook until it gets a 2xx: each update_id is handled once.
CREATE TABLE processed_updates (
    bot_id       bigint NOT NULL,
    update_id    bigint NOT NULL CHECK (update_id >= 0),
    chat_id      bigint,
    status       text NOT NULL DEFAULT 'processing'
                 CHECK (status IN ('processing', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    received_at  timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX processed_updates_by_time ON processed_updates (received_at);

-- One row per attempt to put money in; every external id is unique, so a
-- charge can be credited once at most.
CREATE TABLE payments (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                     bigint NOT NULL REFERENCES users (id),
    method                      text NOT NULL CHECK (method IN ('stars', 'card', 'manual')),
    status                      text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'paid', 'credited', 'rejected',
                                                  'expired', 'canceled', 'refunded')),
    amount_kopecks              bigint NOT NULL CHECK (amount_kopecks > 0),
    currency                    text NOT NULL CHECK (currency IN ('RUB', 'XTR')),
    amount_minor                bigint NOT NULL CHECK (amount_minor > 0),
    invoice_payload             text UNIQUE CHECK (length(invoice_payload) BETWEEN 1 AND 128),
    telegram_payment_charge_id  text UNIQUE,
    provider_payment_charge_id  text UNIQUE,
    manual_code                 text UNIQUE,
    receipt_sha256              text UNIQUE CHECK (receipt_sha256 ~ '^[0-9a-f]{64}$'),
    bank_transaction_id         text UNIQUE,
    ledger_ref                  text UNIQUE,
    details                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    history                     jsonb NOT NULL DEFAULT '[]'::jsonb,
    expires_at                  timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_credited_has_ledger_ref CHECK (
        status NOT IN ('credited', 'refunded') OR ledger_ref IS NOT NULL)
);
CREATE INDEX payments_by_user ON payments (user_id, created_at DESC);
