-- 0004: Event-driven integration: inbox, relay bookkeeping (issue 4).
--
-- Consumed events take effect once however often they are delivered, guarded twice:
--   * by event id: processed_events remembers every applied event_id (and what it answered);
--   * by business key: booking_charges holds one row per (wallet, booking), so a booking is
--     debited once, and refunded at most once and never for more than was debited, whatever the
--     event ids of its deliveries. The CHECKs make a larger refund impossible.
-- The relay leases outbox rows (claimed_until, claim_token) so several relay instances do not
-- publish the same row in the normal case, without holding a row lock while waiting on the broker;
-- the token names the claim holding the lease, so a relay whose lease ran out cannot release rows
-- another relay has claimed since (events/pending.py).

CREATE TABLE processed_events (
    event_id      uuid PRIMARY KEY,
    event_type    varchar(100) NOT NULL,
    -- the `result` answered the first time, answered again to redeliveries
    result        jsonb,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_processed_events_at ON processed_events (processed_at);

CREATE TABLE booking_charges (
    company_id      uuid NOT NULL,
    wallet_id       uuid NOT NULL,
    booking_id      varchar(100) NOT NULL,
    -- DEBITED: the booking was paid; FAILED: it was refused (debit_txn_id is the FAILED entry);
    -- CANCELLED: its cancellation arrived before it (deliveries can overtake each other), so it
    -- must never be charged (no debit_txn_id, amount 0)
    status          varchar(20) NOT NULL,
    amount          numeric(15,2) NOT NULL,
    currency        varchar(3),
    debit_txn_id    uuid REFERENCES transactions (txn_id),
    refunded        numeric(15,2) NOT NULL DEFAULT 0,
    refund_txn_id   uuid REFERENCES transactions (txn_id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wallet_id, booking_id),
    CONSTRAINT booking_charges_wallet_fk FOREIGN KEY (company_id, wallet_id)
        REFERENCES wallets (company_id, wallet_id),
    CONSTRAINT booking_charges_status CHECK (status IN ('DEBITED', 'FAILED', 'CANCELLED')),
    CONSTRAINT booking_decided_by_entry CHECK ((status = 'CANCELLED') = (debit_txn_id IS NULL)),
    CONSTRAINT booking_refund_within_debit CHECK (refunded >= 0 AND refunded <= amount),
    CONSTRAINT booking_refund_once CHECK ((refund_txn_id IS NULL) = (refunded = 0)),
    CONSTRAINT booking_failed_not_refunded CHECK (status = 'DEBITED' OR refunded = 0)
);

ALTER TABLE outbox ADD COLUMN claimed_until timestamptz, ADD COLUMN claim_token uuid;

-- ---------------------------------------------------------------------------------------------
-- BookingCreated: debit the wallet once per booking, or record why it was refused.
-- Returns {"applied": bool, "transaction": <txn_json>}; applied = false when the booking was
-- already decided (paid or refused) by an earlier delivery.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION booking_debit(p_wallet_id uuid, p_booking_id text, p_amount numeric,
                              p_currency text, p_description text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
    c booking_charges;
    t transactions;
    v_posted jsonb;
    v_code text;
    v_detail text;
BEGIN
    -- the wallet lock serializes every delivery of this booking (and every posting of the wallet)
    SELECT * INTO w FROM wallets WHERE wallet_id = p_wallet_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND', DETAIL = format('No wallet %s.', p_wallet_id);
    END IF;
    SELECT * INTO c FROM booking_charges WHERE wallet_id = p_wallet_id AND booking_id = p_booking_id;
    IF FOUND THEN
        -- decided before: paid, refused, or cancelled before it arrived (then never charged)
        RETURN jsonb_build_object('applied', false, 'transaction',
            (SELECT txn_json(x) FROM transactions x WHERE x.txn_id = c.debit_txn_id));
    END IF;

    BEGIN
        IF w.currency <> p_currency THEN
            RAISE EXCEPTION USING MESSAGE = 'CURRENCY_MISMATCH',
                DETAIL = format('The booking is in %s; wallet %s holds %s.', p_currency,
                                p_wallet_id, w.currency);
        END IF;
        v_posted := ledger_post(p_wallet_id, 'DEBIT', p_amount, p_description, p_booking_id,
                                'BOOKING', jsonb_build_object('currency', p_currency));
        INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount, currency,
                                     debit_txn_id)
        VALUES (w.company_id, p_wallet_id, p_booking_id, 'DEBITED', p_amount, p_currency,
                (v_posted -> 'body' ->> 'txn_id')::uuid);
        RETURN jsonb_build_object('applied', true, 'transaction', v_posted -> 'body');
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_code = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
        IF v_code NOT IN ('INSUFFICIENT_FUNDS', 'BUDGET_EXCEEDED', 'WALLET_NOT_ACTIVE',
                          'CURRENCY_MISMATCH') THEN
            RAISE;  -- not a refusal: the caller sees the error and nothing is recorded
        END IF;
    END;

    -- refused: the subtransaction rolled back every change of the attempt; record the refusal
    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              reference_type, status, metadata, failure_code)
    VALUES (w.company_id, p_wallet_id, p_amount, 'DEBIT', p_description, p_booking_id, 'BOOKING',
            'FAILED', jsonb_build_object('currency', p_currency, 'reason', v_detail), v_code)
    RETURNING * INTO t;
    INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount, currency,
                                 debit_txn_id)
    VALUES (w.company_id, p_wallet_id, p_booking_id, 'FAILED', p_amount, p_currency, t.txn_id);
    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'TransactionFailed',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.amount::text,
            'currency', p_currency,
            'type', t.type,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'code', v_code,
            'reason', v_detail));
    RETURN jsonb_build_object('applied', true, 'transaction', txn_json(t));
END $$;

-- ---------------------------------------------------------------------------------------------
-- BookingCancelled: refund a paid booking once, by default in full, never more than was debited.
-- Returns {"applied": bool, "transaction": <txn_json> | null}; applied = false when the booking
-- was refused or already refunded. A cancellation that overtakes its booking (both are delivered
-- concurrently, or the booking is being retried) leaves a CANCELLED mark, so the booking, when it
-- arrives, is never charged.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION booking_refund(p_wallet_id uuid, p_booking_id text, p_amount numeric DEFAULT NULL,
                               p_description text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
    c booking_charges;
    v_amount numeric(15,2);
    v_posted jsonb;
BEGIN
    IF p_amount IS NOT NULL THEN
        PERFORM check_amount(p_amount, 'refund_amount');
    END IF;
    -- the wallet lock, taken first as booking_debit does, serializes this cancellation with
    -- every delivery of the booking and of other cancellations
    SELECT * INTO w FROM wallets WHERE wallet_id = p_wallet_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND', DETAIL = format('No wallet %s.', p_wallet_id);
    END IF;
    SELECT * INTO c FROM booking_charges
    WHERE wallet_id = p_wallet_id AND booking_id = p_booking_id;
    IF NOT FOUND THEN
        INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount)
        VALUES (w.company_id, p_wallet_id, p_booking_id, 'CANCELLED', 0);
        RETURN jsonb_build_object('applied', true, 'transaction', NULL);
    END IF;
    IF c.status <> 'DEBITED' THEN
        RETURN jsonb_build_object('applied', false, 'transaction', NULL);
    END IF;
    IF c.refund_txn_id IS NOT NULL THEN
        RETURN jsonb_build_object('applied', false, 'transaction',
            (SELECT txn_json(x) FROM transactions x WHERE x.txn_id = c.refund_txn_id));
    END IF;
    v_amount := least(coalesce(p_amount, c.amount), c.amount);
    v_posted := ledger_post(p_wallet_id, 'CREDIT', v_amount,
                            coalesce(p_description, 'Refund of booking ' || p_booking_id),
                            p_booking_id, 'BOOKING_REFUND');
    UPDATE booking_charges
    SET refunded = v_amount, refund_txn_id = (v_posted -> 'body' ->> 'txn_id')::uuid,
        updated_at = now()
    WHERE wallet_id = p_wallet_id AND booking_id = p_booking_id;
    RETURN jsonb_build_object('applied', true, 'transaction', v_posted -> 'body');
END $$;

-- the relay asks "is an earlier row of this wallet unpublished and leased?" per candidate
CREATE INDEX idx_outbox_unpublished_wallet ON outbox (wallet_id, seq) WHERE published_at IS NULL;
