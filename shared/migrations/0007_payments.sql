-- Payments: every way money comes in (Stars, a card through a Telegram payments
-- provider, a manual bank transfer with a receipt), promo codes and referrals.
-- Money itself moves only in the ledger, by refs derived from these rows' external
-- ids; the unique keys here make a second credit for the same payment impossible.

-- 0001 sketched a payments table before the flows existed; nothing ever wrote to it,
-- and its shape (uuid ids, history in a jsonb array) does not fit the flows as built.
DROP TABLE payments;

CREATE TABLE payments (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id),
    method              text NOT NULL CHECK (method IN ('stars', 'card', 'transfer')),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'review', 'credited', 'rejected',
                                          'refunded', 'expired')),
    -- What the wallet receives, in kopecks; for Stars: stars × the rate at creation.
    amount_kopecks      bigint NOT NULL CHECK (amount_kopecks > 0),
    currency            text NOT NULL CHECK (currency IN ('XTR', 'RUB')),
    -- The invoice's total in the currency's smallest unit (Stars; kopecks).
    invoice_amount      bigint NOT NULL CHECK (invoice_amount > 0),
    -- The invoice payload (1-128 bytes) that names this payment.
    payload             text NOT NULL UNIQUE CHECK (length(payload) BETWEEN 1 AND 128),
    -- A manual transfer's code, written by the payer in the transfer's purpose.
    transfer_code       text UNIQUE CHECK (length(transfer_code) BETWEEN 1 AND 32),
    telegram_charge_id  text UNIQUE CHECK (length(telegram_charge_id) BETWEEN 1 AND 512),
    provider_charge_id  text CHECK (length(provider_charge_id) BETWEEN 1 AND 512),
    receipt_file_id     text CHECK (length(receipt_file_id) <= 512),
    receipt_sha256      text UNIQUE CHECK (length(receipt_sha256) = 64),
    transaction_id      text CHECK (length(transaction_id) <= 128),
    ocr                 jsonb,
    credited_kopecks    bigint CHECK (credited_kopecks > 0),
    decided_by          bigint CHECK (decided_by > 0),
    reject_reason       text CHECK (length(reject_reason) <= 500),
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_credited_has_amount
        CHECK (status NOT IN ('credited', 'refunded') OR credited_kopecks IS NOT NULL)
);
CREATE INDEX payments_by_user ON payments (user_id, id DESC);
CREATE INDEX payments_in_review ON payments (id) WHERE status = 'review';
-- A bank's transaction id is credited at most once across all transfers.
CREATE UNIQUE INDEX payments_transaction_once ON payments (transaction_id)
    WHERE transaction_id IS NOT NULL AND status IN ('credited', 'refunded');

-- The whole life of a payment, append-only: created, invoice sent, pre-checkout
-- answered, paid, receipt read, approved or rejected, refunded.
CREATE TABLE payment_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id  bigint NOT NULL REFERENCES payments (id),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_events_by_payment ON payment_events (payment_id, id);

CREATE TABLE promo_codes (
    code           text PRIMARY KEY CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    bonus_kopecks  bigint NOT NULL CHECK (bonus_kopecks > 0),
    max_uses       integer NOT NULL CHECK (max_uses > 0),
    used           integer NOT NULL DEFAULT 0,
    expires_at     timestamptz NOT NULL,
    created_by     bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT promo_codes_within_uses CHECK (used BETWEEN 0 AND max_uses)
);

-- One redemption per user and code: the primary key is the "once per user".
CREATE TABLE promo_redemptions (
    code        text NOT NULL REFERENCES promo_codes (code),
    user_id     bigint NOT NULL REFERENCES users (id),
    ledger_ref  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, user_id)
);
