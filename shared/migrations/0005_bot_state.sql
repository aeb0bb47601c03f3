-- What the Telegram webhook needs beyond the foundation: when an update was last
-- claimed (so a second delivery while the first is still running is told apart
-- from one whose process died), the last error of a failing update, and the
-- claim itself as one function (one round trip, decided on the latest row).

ALTER TABLE processed_updates
    ADD COLUMN claimed_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error text CHECK (length(last_error) <= 500);

-- Outcomes: 'process' (new, or a retry after a failed or abandoned attempt: the
-- attempt is counted), 'duplicate' (already done), 'in_flight' (another delivery
-- holds a live claim), 'give_up' (attempts exhausted: marked failed for good).
CREATE FUNCTION bot_claim_update(
    p_bot_id bigint, p_update_id bigint, p_chat_id bigint, p_attempts_max integer,
    p_lease_s integer
) RETURNS TABLE (outcome text, attempts integer)
LANGUAGE plpgsql AS $$
DECLARE
    found_row processed_updates%ROWTYPE;
BEGIN
    INSERT INTO processed_updates (bot_id, update_id, chat_id)
    VALUES (p_bot_id, p_update_id, p_chat_id)
    ON CONFLICT (bot_id, update_id) DO NOTHING;
    IF FOUND THEN
        RETURN QUERY SELECT 'process'::text, 1;
        RETURN;
    END IF;
    -- A new snapshot under READ COMMITTED, and the row lock, so a concurrent
    -- claim that committed first is seen as it is now.
    SELECT * INTO found_row FROM processed_updates
     WHERE bot_id = p_bot_id AND update_id = p_update_id
       FOR UPDATE;
    IF found_row.status = 'done' THEN
        RETURN QUERY SELECT 'duplicate'::text, found_row.attempts;
        RETURN;
    END IF;
    IF found_row.status = 'processing'
       AND found_row.claimed_at > now() - make_interval(secs => p_lease_s) THEN
        RETURN QUERY SELECT 'in_flight'::text, found_row.attempts;
        RETURN;
    END IF;
    IF found_row.attempts >= p_attempts_max THEN
        UPDATE processed_updates
           SET status = 'failed', finished_at = coalesce(finished_at, now())
         WHERE bot_id = p_bot_id AND update_id = p_update_id;
        RETURN QUERY SELECT 'give_up'::text, found_row.attempts;
        RETURN;
    END IF;
    UPDATE processed_updates
       SET status = 'processing', attempts = found_row.attempts + 1, claimed_at = now(),
           finished_at = NULL, chat_id = coalesce(p_chat_id, chat_id)
     WHERE bot_id = p_bot_id AND update_id = p_update_id;
    RETURN QUERY SELECT 'process'::text, found_row.attempts + 1;
END $$;
