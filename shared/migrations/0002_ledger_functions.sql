-- The ledger's operations, one SQL function each, so that an operation is one
-- round trip and one short transaction. Each function locks the wallet row
-- first, then looks for its ref: under READ COMMITTED every statement takes a
-- fresh snapshot, so a concurrent call with the same ref that committed while
-- we waited for the lock is found and replayed instead of written twice.
--
-- hold, capture and release are the job path and are written out inline (no
-- nested calls on the happy path, one lock statement); they look their ref up
-- only when the hold says it may be a replay. A ref already used by another
-- kind of operation then fails the final INSERT on ledger_ref_key, which the
-- Python side reports as a conflict.
--
-- Errors carry their own SQLSTATEs (class LD), mapped to typed Python errors
-- in shared/services/ledger.py:
--   LD001 insufficient funds (DETAIL: available kopecks)   LD002 ref reused with other parameters
--   LD003 unknown wallet        LD004 unknown hold         LD005 hold not open (DETAIL: status)
--   LD006 capture over the hold (DETAIL: hold amount)      LD007 refund over the captured amount
--   LD008 invalid argument      LD009 ledger is append-only

CREATE TYPE ledger_result AS (
    entry_id       bigint,
    wallet_id      bigint,
    kind           text,
    ref            text,
    amount         bigint,
    balance_after  bigint,
    held_after     bigint,
    hold_id        bigint,
    replayed       boolean,
    created_at     timestamptz
);

-- The first result for this ref, or NULL when the ref is new; a conflict when
-- the ref was used for a different request.
CREATE FUNCTION ledger__replay(p_ref text, p_params text) RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    e ledger;
BEGIN
    SELECT * INTO e FROM ledger WHERE ref = p_ref;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF e.params <> p_params THEN
        RAISE EXCEPTION 'ref % was already used for a different operation', p_ref
            USING ERRCODE = 'LD002', DETAIL = e.params;
    END IF;
    RETURN ROW(e.id, e.wallet_id, e.kind, e.ref, e.amount, e.balance_after, e.held_after,
               e.hold_id, true, e.created_at)::ledger_result;
END $$;

CREATE FUNCTION ledger__lock_wallet(p_wallet bigint) RETURNS wallets
LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
BEGIN
    SELECT * INTO w FROM wallets WHERE id = p_wallet FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown wallet %', p_wallet USING ERRCODE = 'LD003';
    END IF;
    RETURN w;
END $$;

-- Applies the effect to the (already locked) wallet and appends the entry.
CREATE FUNCTION ledger__append(
    p_wallet bigint, p_kind text, p_ref text, p_amount bigint, p_balance_delta bigint,
    p_held_delta bigint, p_hold bigint, p_params text, p_reason text
) RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
    e ledger;
BEGIN
    UPDATE wallets
       SET balance = balance + p_balance_delta,
           held = held + p_held_delta,
           version = version + 1,
           updated_at = now()
     WHERE id = p_wallet
    RETURNING * INTO w;
    INSERT INTO ledger (wallet_id, kind, ref, amount, balance_delta, held_delta, balance_after,
                        held_after, hold_id, params, reason)
    VALUES (p_wallet, p_kind, p_ref, p_amount, p_balance_delta, p_held_delta, w.balance, w.held,
            p_hold, p_params, p_reason)
    RETURNING * INTO e;
    RETURN ROW(e.id, e.wallet_id, e.kind, e.ref, e.amount, e.balance_after, e.held_after,
               e.hold_id, false, e.created_at)::ledger_result;
END $$;

-- topup and bonus: money in.
CREATE FUNCTION ledger_credit(p_wallet bigint, p_kind text, p_amount bigint, p_ref text,
                              p_reason text) RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    v_params text := format('%s|wallet=%s|amount=%s|reason=%s', p_kind, p_wallet, p_amount,
                            coalesce(p_reason, ''));
    r ledger_result;
BEGIN
    IF p_kind NOT IN ('topup', 'bonus') OR p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid credit % of %', p_kind, p_amount USING ERRCODE = 'LD008';
    END IF;
    PERFORM ledger__lock_wallet(p_wallet);
    r := ledger__replay(p_ref, v_params);
    IF r.entry_id IS NOT NULL THEN
        RETURN r;
    END IF;
    RETURN ledger__append(p_wallet, p_kind, p_ref, p_amount, p_amount, 0, NULL, v_params,
                          p_reason);
END $$;

-- adjustment: an admin's correction, either way, always with a reason.
CREATE FUNCTION ledger_adjust(p_wallet bigint, p_delta bigint, p_ref text, p_reason text)
RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    v_params text := format('adjustment|wallet=%s|delta=%s|reason=%s', p_wallet, p_delta,
                            coalesce(p_reason, ''));
    w wallets;
    r ledger_result;
BEGIN
    IF p_delta IS NULL OR p_delta = 0 OR length(btrim(coalesce(p_reason, ''))) = 0 THEN
        RAISE EXCEPTION 'an adjustment needs a non-zero amount and a reason'
            USING ERRCODE = 'LD008';
    END IF;
    w := ledger__lock_wallet(p_wallet);
    r := ledger__replay(p_ref, v_params);
    IF r.entry_id IS NOT NULL THEN
        RETURN r;
    END IF;
    IF p_delta < 0 AND w.balance - w.held < -p_delta THEN
        RAISE EXCEPTION 'insufficient funds: % available, % asked', w.balance - w.held, -p_delta
            USING ERRCODE = 'LD001', DETAIL = (w.balance - w.held)::text;
    END IF;
    RETURN ledger__append(p_wallet, 'adjustment', p_ref, abs(p_delta), p_delta, 0, NULL,
                          v_params, p_reason);
END $$;

-- hold: reserve money for a job until it is captured, released or expires.
CREATE FUNCTION ledger_hold(p_wallet bigint, p_amount bigint, p_ref text, p_ttl_s bigint)
RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    v_params text := format('hold|wallet=%s|amount=%s|ttl=%s', p_wallet, p_amount, p_ttl_s);
    v_balance bigint;
    v_held bigint;
    v_hold bigint;
    r ledger_result;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_ttl_s IS NULL OR p_ttl_s <= 0 THEN
        RAISE EXCEPTION 'invalid hold of % for % s', p_amount, p_ttl_s USING ERRCODE = 'LD008';
    END IF;
    SELECT balance, held INTO v_balance, v_held FROM wallets WHERE id = p_wallet FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown wallet %', p_wallet USING ERRCODE = 'LD003';
    END IF;
    -- The hold's own unique ref doubles as the replay check.
    INSERT INTO holds (wallet_id, ref, amount, expires_at)
    VALUES (p_wallet, p_ref, p_amount, now() + make_interval(secs => p_ttl_s))
    ON CONFLICT (ref) DO NOTHING
    RETURNING id INTO v_hold;
    IF v_hold IS NULL THEN
        r := ledger__replay(p_ref, v_params);
        IF r.entry_id IS NOT NULL THEN
            RETURN r;
        END IF;
        RAISE EXCEPTION 'hold % has no ledger entry', p_ref;  -- cannot happen: same transaction
    END IF;
    IF v_balance - v_held < p_amount THEN
        RAISE EXCEPTION 'insufficient funds: % available, % asked', v_balance - v_held, p_amount
            USING ERRCODE = 'LD001', DETAIL = (v_balance - v_held)::text;
    END IF;
    UPDATE wallets SET held = held + p_amount, version = version + 1, updated_at = now()
     WHERE id = p_wallet;
    INSERT INTO ledger (wallet_id, kind, ref, amount, balance_delta, held_delta, balance_after,
                        held_after, hold_id, params)
    VALUES (p_wallet, 'hold', p_ref, p_amount, 0, p_amount, v_balance, v_held + p_amount, v_hold,
            v_params)
    RETURNING id, created_at INTO r.entry_id, r.created_at;
    RETURN ROW(r.entry_id, p_wallet, 'hold', p_ref, p_amount, v_balance, v_held + p_amount,
               v_hold, false, r.created_at)::ledger_result;
END $$;

-- capture: take at most the held amount (NULL: all of it); the rest returns in
-- the same step.
CREATE FUNCTION ledger_capture(p_hold_ref text, p_amount bigint, p_ref text)
RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    v_hold bigint;
    v_wallet bigint;
    v_hold_amount bigint;
    v_status text;
    v_amount bigint;
    v_params text;
    v_balance bigint;
    v_held bigint;
    r ledger_result;
BEGIN
    -- Locking both rows makes Postgres re-read both if they changed while we waited.
    SELECT h.id, h.wallet_id, h.amount, h.status
      INTO v_hold, v_wallet, v_hold_amount, v_status
      FROM holds h JOIN wallets w ON w.id = h.wallet_id
     WHERE h.ref = p_hold_ref
       FOR UPDATE OF w, h;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown hold %', p_hold_ref USING ERRCODE = 'LD004';
    END IF;
    v_amount := coalesce(p_amount, v_hold_amount);
    IF v_amount <= 0 THEN
        RAISE EXCEPTION 'invalid capture of %', v_amount USING ERRCODE = 'LD008';
    END IF;
    v_params := format('capture|hold=%s|amount=%s', p_hold_ref, v_amount);
    IF v_status <> 'open' THEN
        r := ledger__replay(p_ref, v_params);
        IF r.entry_id IS NOT NULL THEN
            RETURN r;
        END IF;
        RAISE EXCEPTION 'hold % is %, not open', p_hold_ref, v_status
            USING ERRCODE = 'LD005', DETAIL = v_status;
    END IF;
    IF v_amount > v_hold_amount THEN
        RAISE EXCEPTION 'capture of % exceeds the hold of %', v_amount, v_hold_amount
            USING ERRCODE = 'LD006', DETAIL = v_hold_amount::text;
    END IF;
    UPDATE holds SET status = 'captured', captured = v_amount, resolved_at = now()
     WHERE id = v_hold;
    UPDATE wallets
       SET balance = balance - v_amount, held = held - v_hold_amount, version = version + 1,
           updated_at = now()
     WHERE id = v_wallet
    RETURNING balance, held INTO v_balance, v_held;
    INSERT INTO ledger (wallet_id, kind, ref, amount, balance_delta, held_delta, balance_after,
                        held_after, hold_id, params)
    VALUES (v_wallet, 'capture', p_ref, v_amount, -v_amount, -v_hold_amount, v_balance, v_held,
            v_hold, v_params)
    RETURNING id, created_at INTO r.entry_id, r.created_at;
    RETURN ROW(r.entry_id, v_wallet, 'capture', p_ref, v_amount, v_balance, v_held, v_hold, false,
               r.created_at)::ledger_result;
END $$;

-- release: return the whole hold (job failed or canceled; 'expired' from the sweep).
CREATE FUNCTION ledger_release(p_hold_ref text, p_ref text, p_reason text,
                               p_final_status text DEFAULT 'released')
RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    v_hold bigint;
    v_wallet bigint;
    v_hold_amount bigint;
    v_status text;
    v_params text := format('release|hold=%s|reason=%s', p_hold_ref, coalesce(p_reason, ''));
    v_balance bigint;
    v_held bigint;
    r ledger_result;
BEGIN
    SELECT h.id, h.wallet_id, h.amount, h.status
      INTO v_hold, v_wallet, v_hold_amount, v_status
      FROM holds h JOIN wallets w ON w.id = h.wallet_id
     WHERE h.ref = p_hold_ref
       FOR UPDATE OF w, h;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown hold %', p_hold_ref USING ERRCODE = 'LD004';
    END IF;
    IF v_status <> 'open' THEN
        r := ledger__replay(p_ref, v_params);
        IF r.entry_id IS NOT NULL THEN
            RETURN r;
        END IF;
        RAISE EXCEPTION 'hold % is %, not open', p_hold_ref, v_status
            USING ERRCODE = 'LD005', DETAIL = v_status;
    END IF;
    UPDATE holds SET status = p_final_status, resolved_at = now() WHERE id = v_hold;
    UPDATE wallets SET held = held - v_hold_amount, version = version + 1, updated_at = now()
     WHERE id = v_wallet
    RETURNING balance, held INTO v_balance, v_held;
    INSERT INTO ledger (wallet_id, kind, ref, amount, balance_delta, held_delta, balance_after,
                        held_after, hold_id, params, reason)
    VALUES (v_wallet, 'release', p_ref, v_hold_amount, 0, -v_hold_amount, v_balance, v_held,
            v_hold, v_params, p_reason)
    RETURNING id, created_at INTO r.entry_id, r.created_at;
    RETURN ROW(r.entry_id, v_wallet, 'release', p_ref, v_hold_amount, v_balance, v_held, v_hold,
               false, r.created_at)::ledger_result;
END $$;

-- The hold, after its wallet is locked (so its status cannot change under us).
CREATE FUNCTION ledger__lock_hold(p_hold_ref text) RETURNS holds
LANGUAGE plpgsql AS $$
DECLARE
    h holds;
BEGIN
    SELECT h2.* INTO h
      FROM holds h2 JOIN wallets w ON w.id = h2.wallet_id
     WHERE h2.ref = p_hold_ref
       FOR UPDATE OF w, h2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown hold %', p_hold_ref USING ERRCODE = 'LD004';
    END IF;
    RETURN h;
END $$;

-- refund: give back (part of) what a capture took.
CREATE FUNCTION ledger_refund(p_hold_ref text, p_amount bigint, p_ref text, p_reason text)
RETURNS ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    h holds := ledger__lock_hold(p_hold_ref);
    v_params text := format('refund|hold=%s|amount=%s|reason=%s', p_hold_ref, p_amount,
                            coalesce(p_reason, ''));
    r ledger_result;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid refund of %', p_amount USING ERRCODE = 'LD008';
    END IF;
    r := ledger__replay(p_ref, v_params);
    IF r.entry_id IS NOT NULL THEN
        RETURN r;
    END IF;
    IF h.status <> 'captured' THEN
        RAISE EXCEPTION 'hold % is %, only a captured hold can be refunded', p_hold_ref, h.status
            USING ERRCODE = 'LD005', DETAIL = h.status;
    END IF;
    IF p_amount > h.captured - h.refunded THEN
        RAISE EXCEPTION 'refund of % exceeds the % still refundable', p_amount,
            h.captured - h.refunded
            USING ERRCODE = 'LD007', DETAIL = (h.captured - h.refunded)::text;
    END IF;
    UPDATE holds SET refunded = refunded + p_amount WHERE id = h.id;
    RETURN ledger__append(h.wallet_id, 'refund', p_ref, p_amount, p_amount, 0, h.id, v_params,
                          p_reason);
END $$;

-- Release every open hold past its expiry (at most p_limit per call, in wallet
-- order so that two sweepers never deadlock). The ref derives from the hold,
-- so a repeated or concurrent sweep releases each hold once.
CREATE FUNCTION ledger_expire_holds(p_now timestamptz, p_limit integer)
RETURNS SETOF ledger_result
LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
    h holds;
BEGIN
    FOR candidate IN
        SELECT ref FROM holds
         WHERE status = 'open' AND expires_at <= p_now
         ORDER BY wallet_id, id
         LIMIT p_limit
    LOOP
        -- Resolved by a capture or release since the scan: nothing left to expire.
        h := ledger__lock_hold(candidate.ref);
        CONTINUE WHEN h.status <> 'open';
        RETURN NEXT ledger_release(h.ref, 'expire:' || h.id, 'expired', 'expired');
    END LOOP;
END $$;
