-- Idempotency keys inside the posting functions: the first request with a key claims it in its own
-- transaction, a concurrent retry waits on the row and then replays the stored answer.
-- Keys are scoped to the caller (the token's sub) and kept at least 24 hours.

-- Claims an idempotency key for this transaction. Returns NULL when the key is new (the caller
-- goes on and later calls idem_store), or the stored {status, body} of the first request.
-- A concurrent request with the same key waits here until the first one commits or rolls back.
CREATE OR REPLACE FUNCTION idem_claim(p_caller text, p_key text, p_hash text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r idempotency_keys;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO idempotency_keys (caller, key, request_hash)
    VALUES (p_caller, p_key, p_hash)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM idempotency_keys WHERE caller = p_caller AND key = p_key;
    IF r.request_hash <> p_hash THEN
        RAISE EXCEPTION USING MESSAGE = 'IDEMPOTENCY_KEY_REUSED',
            DETAIL = 'This Idempotency-Key was already used with a different request body; '
                     'use a new key for a new request.';
    END IF;
    RETURN jsonb_build_object('status', r.status_code, 'body', r.response);
END $$;

CREATE OR REPLACE FUNCTION idem_store(p_caller text, p_key text, p_status integer, p_body jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys SET status_code = p_status, response = p_body
    WHERE caller = p_caller AND key = p_key;
END $$;

-- Ends a command that claimed p_key: stores its answer for retries (when there is a key) and
-- returns it as {"status", "body", "replayed": false}, the shape every ledger function returns.
CREATE OR REPLACE FUNCTION idem_finish(p_caller text, p_key text, p_status integer, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NOT NULL THEN
        PERFORM idem_store(p_caller, p_key, p_status, p_body);
    END IF;
    RETURN jsonb_build_object('status', p_status, 'body', p_body, 'replayed', false);
END $$;
