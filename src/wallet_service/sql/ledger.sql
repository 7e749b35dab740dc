-- The ledger engine: the one posting path. Every money movement — credits, debits, both legs of a
-- transfer, holds, captures, voids, expiry, booking debits and refunds — is a posting applied by
-- ledger_apply(), alone or with others in one call (batches, group commit).
--
-- A posting is a JSON object: {"op": CREDIT|DEBIT|TRANSFER|HOLD|CAPTURE|VOID|EXPIRE|
-- BOOKING_DEBIT|BOOKING_REFUND, "wallet_id", "to_wallet_id", "txn_id", "amount", "description",
-- "reference_id", "reference_type", "metadata", "expires_at", "booking_id", "currency", "now",
-- "company_id" (when set, every wallet touched must belong to it), "idem": {caller, key, hash}
-- (an HTTP Idempotency-Key), "event": {event_id, event_type} (a consumed event), "actor_sub",
-- "actor_role", "request_id"}; each op reads the fields it needs.
--
-- Each posting answers one outcome, in request order:
--   {"ok": true, "status": 200|201, "body": <answer>, "replayed": bool}
--   {"ok": false, "code": <contract error code>, "detail": <human text>}
-- A refusal is decided by checking before writing, never by raising, so a refused posting writes
-- nothing and its neighbours in the same call are unaffected. PostgreSQL's constraints stay the
-- last guard: a state they refuse aborts the whole call.
--
-- Lock order, the same for every call, so two calls never deadlock: idempotency keys (sorted) ->
-- wallet rows (sorted by wallet_id) -> hold and budget rows, which belong to one wallet each and
-- are only locked while that wallet is locked.

-- ---------------------------------------------------------------------------------------------
-- Outcomes and the three writes every posting is made of.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ledger_refusal(p_code text, p_detail text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('ok', false, 'code', p_code, 'detail', p_detail)
$$;

CREATE OR REPLACE FUNCTION ledger_success(p_status integer, p_body jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('ok', true, 'status', p_status, 'body', p_body, 'replayed', false)
$$;

-- The only statement that changes a wallet's money: balance and held_amount move by the deltas,
-- the version is bumped. The caller holds the row lock and has checked the rules.
CREATE OR REPLACE FUNCTION ledger_move(p_wallet uuid, p_balance numeric, p_held numeric)
RETURNS wallets LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
BEGIN
    UPDATE wallets
    SET balance = balance + p_balance, held_amount = held_amount + p_held,
        version = version + 1, updated_at = now()
    WHERE wallet_id = p_wallet
    RETURNING * INTO w;
    RETURN w;
END $$;

-- The only INSERT into the ledger: entry t on wallet w, stamped with the posting's caller context;
-- description and references not set on t are the posting's.
CREATE OR REPLACE FUNCTION ledger_record(t transactions, w wallets, p jsonb) RETURNS transactions
LANGUAGE plpgsql AS $$
BEGIN
    t.txn_id := gen_random_uuid();
    t.company_id := w.company_id;
    t.wallet_id := w.wallet_id;
    t.description := coalesce(t.description, p->>'description');
    t.reference_id := coalesce(t.reference_id, p->>'reference_id');
    t.reference_type := coalesce(t.reference_type, p->>'reference_type');
    -- the clock, not the transaction's start: entries of one call keep their order in time
    t.created_at := clock_timestamp();
    t.updated_at := t.created_at;
    t.actor_sub := (p->>'actor_sub')::uuid;
    t.actor_role := p->>'actor_role';
    t.request_id := p->>'request_id';
    INSERT INTO transactions SELECT t.* RETURNING * INTO t;
    RETURN t;
END $$;

-- The wallet a posting names in p_field, locked by ledger_apply; NULL when it does not exist or
-- lies outside the posting's company scope.
CREATE OR REPLACE FUNCTION ledger_wallet(p jsonb, p_field text DEFAULT 'wallet_id') RETURNS wallets
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w wallets;
BEGIN
    SELECT * INTO w FROM wallets WHERE wallet_id = (p->>p_field)::uuid;
    IF p->>'company_id' IS NOT NULL AND w.company_id <> (p->>'company_id')::uuid THEN
        RETURN NULL;
    END IF;
    RETURN w;
END $$;

CREATE OR REPLACE FUNCTION ledger_amount_refusal(p_amount numeric, p_name text DEFAULT 'amount')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 2)
            THEN ledger_refusal('VALIDATION_ERROR',
                                format('%s must be greater than 0 with at most 2 decimals', p_name))
        WHEN p_amount > 9999999999999.99
            THEN ledger_refusal('VALIDATION_ERROR',
                                format('%s must be at most 9999999999999.99', p_name))
    END
$$;

-- What a CREDIT or DEBIT of p_amount would leave on wallet w and its budgets covering p_day
-- (the answer of a dry run; p_amount 0 describes the wallet as it is).
CREATE OR REPLACE FUNCTION ledger_preview(w wallets, p_type text, p_amount numeric, p_day date)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH d AS (SELECT CASE WHEN p_type = 'DEBIT' THEN -p_amount ELSE p_amount END AS delta)
    SELECT jsonb_build_object(
        'balance_after', (w.balance + d.delta)::numeric(15,2)::text,
        'available_balance_after', (w.balance + d.delta - w.held_amount)::numeric(15,2)::text,
        'budgets', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                'budget_id', b.budget_id,
                'used_amount_after', u.used::numeric(15,2)::text,
                'remaining_amount_after', (b.total_amount - u.used)::numeric(15,2)::text,
                'thresholds_crossed', coalesce((
                    SELECT jsonb_agg(x ORDER BY x) FROM unnest(b.alert_thresholds) x
                    WHERE b.used_amount * 100 < b.total_amount * x
                      AND u.used * 100 >= b.total_amount * x), '[]'::jsonb))
                ORDER BY b.budget_id)
            FROM budgets b
            CROSS JOIN LATERAL (SELECT b.used_amount
                + CASE WHEN p_type = 'DEBIT' THEN p_amount ELSE 0 END AS used) u
            WHERE b.wallet_id = w.wallet_id AND b.status = 'ACTIVE'
              AND b.start_date <= p_day AND b.end_date >= p_day), '[]'::jsonb))
    FROM d
$$;

-- ---------------------------------------------------------------------------------------------
-- CREDIT and DEBIT on a locked wallet: the rules, then the writes (entry, balance, budgets,
-- TransactionCompleted). Booking debits and refunds post through it too.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ledger_entry(p jsonb, w wallets, p_dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_type text := p->>'op';
    v_amount numeric := (p->>'amount')::numeric;
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    v_detail text;
    v_out jsonb;
    t transactions;
BEGIN
    v_out := ledger_amount_refusal(v_amount);
    IF v_out IS NULL AND (w.status = 'CLOSED' OR (v_type = 'DEBIT' AND w.status <> 'ACTIVE')) THEN
        v_out := ledger_refusal('WALLET_NOT_ACTIVE',
            format('Wallet %s is %s and cannot take a %s.', w.wallet_id, w.status, v_type));
    END IF;
    IF v_out IS NULL AND v_type = 'DEBIT' AND w.balance - w.held_amount < v_amount THEN
        v_out := ledger_refusal('INSUFFICIENT_FUNDS',
            format('Available balance is %s %s; the debit needs %s.',
                   w.balance - w.held_amount, w.currency, v_amount));
    END IF;
    IF v_out IS NULL AND v_type = 'DEBIT' THEN
        v_detail := budget_refusal(w.wallet_id, v_amount, v_day, 'debit');
        IF v_detail IS NOT NULL THEN
            v_out := ledger_refusal('BUDGET_EXCEEDED', v_detail);
        END IF;
    END IF;
    IF v_out IS NULL AND v_type = 'CREDIT' AND w.balance + v_amount > 9999999999999.99 THEN
        v_out := ledger_refusal('VALIDATION_ERROR',
            format('This credit would take wallet %s past the largest balance, 9999999999999.99.',
                   w.wallet_id));
    END IF;

    IF p_dry_run THEN
        RETURN coalesce(v_out, jsonb_build_object('ok', true, 'status', 200))
            || jsonb_build_object('preview', ledger_preview(w, v_type,
                                  CASE WHEN v_out IS NULL THEN v_amount ELSE 0 END, v_day));
    ELSIF v_out IS NOT NULL THEN
        RETURN v_out;
    END IF;

    w := ledger_move(w.wallet_id, CASE WHEN v_type = 'DEBIT' THEN -v_amount ELSE v_amount END, 0);
    t.amount := v_amount;
    t.type := v_type;
    t.status := 'COMPLETED';
    t.metadata := p->'metadata';
    t.balance_after := w.balance;
    t := ledger_record(t, w, p);

    IF v_type = 'DEBIT' THEN
        PERFORM budget_consume(t.txn_id, w, v_amount, v_day);
    ELSIF t.reference_type LIKE '%\_REFUND' AND t.reference_id IS NOT NULL THEN
        PERFORM budget_release(t.txn_id, w.wallet_id, left(t.reference_type, -7),
                               t.reference_id, v_amount);
    END IF;
    PERFORM emit_transaction_completed(w, t);
    RETURN ledger_success(201, txn_json(t));
END $$;

-- ---------------------------------------------------------------------------------------------
-- Transfers: a TRANSFER_OUT and a TRANSFER_IN linked by one transfer_id. Same company and
-- currency; the source ACTIVE with the available balance, the destination not CLOSED. Transfers
-- are not spending: no budget is touched.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ledger_transfer(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_amount numeric := (p->>'amount')::numeric;
    v_transfer_id uuid := gen_random_uuid();
    v_out jsonb := ledger_amount_refusal((p->>'amount')::numeric);
    wf wallets := ledger_wallet(p, 'wallet_id');
    wt wallets := ledger_wallet(p, 'to_wallet_id');
    tf transactions;
    tt transactions;
BEGIN
    IF v_out IS NOT NULL THEN
        RETURN v_out;
    ELSIF p->>'wallet_id' = p->>'to_wallet_id' THEN
        RETURN ledger_refusal('VALIDATION_ERROR',
            'from_wallet_id and to_wallet_id must differ: a wallet cannot pay itself');
    ELSIF wf.wallet_id IS NULL THEN
        RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'wallet_id'));
    ELSIF wt.wallet_id IS NULL THEN
        RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'to_wallet_id'));
    ELSIF wf.company_id <> wt.company_id THEN
        RETURN ledger_refusal('VALIDATION_ERROR',
            'Transfers between wallets of two different companies are not allowed.');
    ELSIF wf.currency <> wt.currency THEN
        RETURN ledger_refusal('CURRENCY_MISMATCH',
            format('Wallet %s holds %s but wallet %s holds %s; transfers need one currency.',
                   wf.wallet_id, wf.currency, wt.wallet_id, wt.currency));
    ELSIF wf.status <> 'ACTIVE' THEN
        RETURN ledger_refusal('WALLET_NOT_ACTIVE',
            format('The source wallet %s is %s and cannot send money.', wf.wallet_id, wf.status));
    ELSIF wt.status = 'CLOSED' THEN
        RETURN ledger_refusal('WALLET_NOT_ACTIVE',
            format('The destination wallet %s is CLOSED and cannot receive money.', wt.wallet_id));
    ELSIF wf.balance - wf.held_amount < v_amount THEN
        RETURN ledger_refusal('INSUFFICIENT_FUNDS',
            format('Available balance is %s %s; the transfer needs %s.',
                   wf.balance - wf.held_amount, wf.currency, v_amount));
    ELSIF wt.balance + v_amount > 9999999999999.99 THEN
        RETURN ledger_refusal('VALIDATION_ERROR',
            format('This transfer would take wallet %s past the largest balance.', wt.wallet_id));
    END IF;

    wf := ledger_move(wf.wallet_id, -v_amount, 0);
    wt := ledger_move(wt.wallet_id, v_amount, 0);
    tf.amount := v_amount;
    tf.status := 'COMPLETED';
    tf.transfer_id := v_transfer_id;
    tt := tf;
    tf.type := 'TRANSFER_OUT';
    tf.metadata := jsonb_build_object('counterparty_wallet_id', wt.wallet_id);
    tf.balance_after := wf.balance;
    tf := ledger_record(tf, wf, p);
    tt.type := 'TRANSFER_IN';
    tt.metadata := jsonb_build_object('counterparty_wallet_id', wf.wallet_id);
    tt.balance_after := wt.balance;
    tt := ledger_record(tt, wt, p);

    PERFORM emit_transaction_completed(wf, tf);
    PERFORM emit_transaction_completed(wt, tt);
    -- filed under the source wallet, so it is published in order with that wallet's events
    PERFORM emit_event(wf.company_id, wf.wallet_id, wf.version, 'TransferCompleted',
        jsonb_build_object(
            'transfer_id', v_transfer_id,
            'from_wallet_id', wf.wallet_id,
            'to_wallet_id', wt.wallet_id,
            'amount', v_amount::numeric(15,2)::text,
            'currency', wf.currency,
            'debit_txn_id', tf.txn_id,
            'credit_txn_id', tt.txn_id,
            'reference_id', p->>'reference_id'));
    RETURN ledger_success(201, jsonb_build_object(
        'transfer_id', v_transfer_id, 'debit', txn_json(tf), 'credit', txn_json(tt)));
END $$;

-- ---------------------------------------------------------------------------------------------
-- Holds (two-phase debits).
-- ---------------------------------------------------------------------------------------------

-- Places a hold: a PENDING DEBIT with hold_amount that takes nothing from balance but raises
-- held_amount at once, and reserves the amount against every ACTIVE HARD budget covering today.
-- Needs an ACTIVE wallet and amount <= available_balance; expires_at defaults to 7 days from now.
CREATE OR REPLACE FUNCTION ledger_hold(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_amount numeric := (p->>'amount')::numeric;
    v_expires timestamptz := coalesce((p->>'expires_at')::timestamptz, now() + interval '7 days');
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    v_detail text;
    w wallets := ledger_wallet(p);
    t transactions;
BEGIN
    IF ledger_amount_refusal(v_amount) IS NOT NULL THEN
        RETURN ledger_amount_refusal(v_amount);
    ELSIF v_expires <= now() THEN
        RETURN ledger_refusal('VALIDATION_ERROR',
                              format('expires_at must be in the future (got %s)', v_expires));
    ELSIF w.wallet_id IS NULL THEN
        RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'wallet_id'));
    ELSIF w.status <> 'ACTIVE' THEN
        RETURN ledger_refusal('WALLET_NOT_ACTIVE',
            format('Wallet %s is %s and cannot take a hold.', w.wallet_id, w.status));
    ELSIF w.balance - w.held_amount < v_amount THEN
        RETURN ledger_refusal('INSUFFICIENT_FUNDS',
            format('Available balance is %s %s; the hold needs %s.',
                   w.balance - w.held_amount, w.currency, v_amount));
    END IF;
    v_detail := budget_refusal(w.wallet_id, v_amount, v_day, 'hold');
    IF v_detail IS NOT NULL THEN
        RETURN ledger_refusal('BUDGET_EXCEEDED', v_detail);
    END IF;

    w := ledger_move(w.wallet_id, 0, v_amount);
    t.amount := v_amount;
    t.type := 'DEBIT';
    t.status := 'PENDING';
    t.hold_amount := v_amount;
    t.expires_at := v_expires;
    t := ledger_record(t, w, p);
    PERFORM budget_reserve(t.txn_id, w.wallet_id, v_amount, v_day);

    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'HoldPlaced',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.hold_amount::text,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'expires_at', t.expires_at,
            'available_balance', (w.balance - w.held_amount)::text,
            'currency', w.currency));
    RETURN ledger_success(201, txn_json(t));
END $$;

-- The open hold a posting names in txn_id, locked (its wallet is already locked), or the refusal
-- saying why it cannot be settled.
CREATE OR REPLACE FUNCTION ledger_open_hold(p jsonb, OUT t transactions, OUT refusal jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO t FROM transactions
    WHERE txn_id = (p->>'txn_id')::uuid
      AND (p->>'company_id' IS NULL OR company_id = (p->>'company_id')::uuid)
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        refusal := ledger_refusal('TRANSACTION_NOT_FOUND', format('No transaction %s.', p->>'txn_id'));
    ELSIF t.hold_amount IS NULL THEN
        refusal := ledger_refusal('HOLD_NOT_PENDING',
                                  format('Transaction %s is a %s, not a hold.', t.txn_id, t.type));
    ELSIF t.status <> 'PENDING' THEN
        refusal := ledger_refusal('HOLD_NOT_PENDING',
                                  format('Hold %s is already %s.', t.txn_id, t.status));
    END IF;
END $$;

-- Captures all (default) or part of an open hold: balance -= captured, the whole hold leaves
-- held_amount, reservations are given back and the captured amount counts as budget usage on the
-- hold's day. Needs an ACTIVE wallet and an unexpired hold; refused with BUDGET_EXCEEDED when a
-- HARD budget lowered since would be passed.
CREATE OR REPLACE FUNCTION ledger_capture(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h record := ledger_open_hold(p);
    t transactions := h.t;
    v_capture numeric;
    v_day date;
    v_detail text;
    w wallets;
BEGIN
    IF h.refusal IS NOT NULL THEN
        RETURN h.refusal;
    END IF;
    v_capture := coalesce((p->>'amount')::numeric, t.hold_amount);
    v_day := (t.created_at AT TIME ZONE 'UTC')::date;
    SELECT * INTO w FROM wallets WHERE wallet_id = t.wallet_id;
    IF ledger_amount_refusal(v_capture) IS NOT NULL THEN
        RETURN ledger_amount_refusal(v_capture);
    ELSIF t.expires_at <= now() THEN
        RETURN ledger_refusal('HOLD_NOT_PENDING',
            format('Hold %s expired at %s and can no longer be captured.', t.txn_id, t.expires_at));
    ELSIF v_capture > t.hold_amount THEN
        RETURN ledger_refusal('CAPTURE_EXCEEDS_HOLD',
            format('Hold %s holds %s; cannot capture %s.', t.txn_id, t.hold_amount, v_capture));
    ELSIF w.status <> 'ACTIVE' THEN
        RETURN ledger_refusal('WALLET_NOT_ACTIVE',
            format('Wallet %s is %s: its holds can be voided but not captured.',
                   w.wallet_id, w.status));
    END IF;
    v_detail := budget_refusal(w.wallet_id, v_capture, v_day, 'capture', t.txn_id);
    IF v_detail IS NOT NULL THEN
        RETURN ledger_refusal('BUDGET_EXCEEDED', v_detail);
    END IF;

    w := ledger_move(w.wallet_id, -v_capture, -t.hold_amount);
    PERFORM hold_release_reservations(t.txn_id);
    UPDATE transactions
    -- the clock: a capture is dated when the money moves, after every entry before it
    SET status = 'COMPLETED', amount = v_capture, balance_after = w.balance,
        updated_at = clock_timestamp()
    WHERE txn_id = t.txn_id
    RETURNING * INTO t;
    PERFORM budget_consume(t.txn_id, w, v_capture, v_day);

    PERFORM emit_transaction_completed(w, t);
    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'HoldCaptured',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'hold_amount', t.hold_amount::text,
            'captured_amount', t.amount::text,
            'released_amount', (t.hold_amount - t.amount)::text,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'new_balance', w.balance::text,
            'currency', w.currency));
    RETURN ledger_success(200, txn_json(t));
END $$;

-- Voids (VOID) or expires (EXPIRE, when expires_at <= the posting's "now") an open hold:
-- everything it held and reserved is given back, whatever the wallet's status (releasing money
-- never hurts its owner); HoldVoided with reason VOIDED or EXPIRED.
CREATE OR REPLACE FUNCTION ledger_release_hold(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h record := ledger_open_hold(p);
    t transactions := h.t;
    v_reason text := CASE WHEN p->>'op' = 'EXPIRE' THEN 'EXPIRED' ELSE 'VOIDED' END;
    w wallets;
BEGIN
    IF h.refusal IS NOT NULL THEN
        RETURN h.refusal;
    ELSIF v_reason = 'EXPIRED' AND t.expires_at > (p->>'now')::timestamptz THEN
        RETURN ledger_refusal('HOLD_NOT_PENDING',
            format('Hold %s is not due: it expires at %s.', t.txn_id, t.expires_at));
    END IF;
    w := ledger_move(t.wallet_id, 0, -t.hold_amount);
    PERFORM hold_release_reservations(t.txn_id);
    UPDATE transactions SET status = 'CANCELLED', updated_at = clock_timestamp()
    WHERE txn_id = t.txn_id RETURNING * INTO t;
    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'HoldVoided',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.hold_amount::text,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'reason', v_reason,
            'available_balance', (w.balance - w.held_amount)::text,
            'currency', w.currency));
    RETURN ledger_success(200, txn_json(t));
END $$;

-- ---------------------------------------------------------------------------------------------
-- Bookings (consumed events), deduplicated by booking_charges: a booking is debited once and
-- refunded at most once, never for more than was debited, whatever the deliveries.
-- ---------------------------------------------------------------------------------------------

-- BookingCreated: the booking's DEBIT (reference_type BOOKING), or, when refused for funds,
-- budget, wallet status or currency, a FAILED entry announced by TransactionFailed. Answers
-- {"applied": bool, "transaction"}; applied = false when an earlier delivery decided it.
CREATE OR REPLACE FUNCTION ledger_booking_debit(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    w wallets := ledger_wallet(p);
    c booking_charges;
    t transactions;
    v_out jsonb;
    v_debit jsonb;
BEGIN
    IF w.wallet_id IS NULL THEN
        RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'wallet_id'));
    END IF;
    SELECT * INTO c FROM booking_charges
    WHERE wallet_id = w.wallet_id AND booking_id = p->>'booking_id';
    IF FOUND THEN
        RETURN ledger_success(200, jsonb_build_object('applied', false, 'transaction',
            (SELECT txn_json(x) FROM transactions x WHERE x.txn_id = c.debit_txn_id)));
    END IF;

    v_debit := p || jsonb_build_object('op', 'DEBIT', 'reference_id', p->>'booking_id',
        'reference_type', 'BOOKING', 'metadata', jsonb_build_object('currency', p->>'currency'));
    IF w.currency <> p->>'currency' THEN
        v_out := ledger_refusal('CURRENCY_MISMATCH',
            format('The booking is in %s; wallet %s holds %s.', p->>'currency', w.wallet_id,
                   w.currency));
    ELSE
        v_out := ledger_entry(v_debit, w, false);
    END IF;

    IF (v_out->>'ok')::boolean THEN
        INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount, currency,
                                     debit_txn_id)
        VALUES (w.company_id, w.wallet_id, p->>'booking_id', 'DEBITED', (p->>'amount')::numeric,
                p->>'currency', (v_out->'body'->>'txn_id')::uuid);
        RETURN ledger_success(200, jsonb_build_object('applied', true,
                                                      'transaction', v_out->'body'));
    ELSIF v_out->>'code' NOT IN ('INSUFFICIENT_FUNDS', 'BUDGET_EXCEEDED', 'WALLET_NOT_ACTIVE',
                                 'CURRENCY_MISMATCH') THEN
        RETURN v_out;
    END IF;

    t.amount := (p->>'amount')::numeric;
    t.type := 'DEBIT';
    t.status := 'FAILED';
    t.metadata := jsonb_build_object('currency', p->>'currency', 'reason', v_out->>'detail');
    t.failure_code := v_out->>'code';
    t := ledger_record(t, w, v_debit);
    INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount, currency,
                                 debit_txn_id)
    VALUES (w.company_id, w.wallet_id, p->>'booking_id', 'FAILED', t.amount, p->>'currency',
            t.txn_id);
    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'TransactionFailed',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.amount::text,
            'currency', p->>'currency',
            'type', t.type,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'code', t.failure_code,
            'reason', v_out->>'detail'));
    RETURN ledger_success(200, jsonb_build_object('applied', true, 'transaction', txn_json(t)));
END $$;

-- BookingCancelled: refunds a paid booking once (reference_type BOOKING_REFUND), by default in
-- full and never more than was debited. A cancellation that overtakes its booking leaves a
-- CANCELLED mark so the booking, when it arrives, is never charged. Answers {"applied",
-- "transaction"}; applied = false when the booking was refused or already refunded.
CREATE OR REPLACE FUNCTION ledger_booking_refund(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    w wallets := ledger_wallet(p);
    c booking_charges;
    v_out jsonb;
BEGIN
    IF w.wallet_id IS NULL THEN
        RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'wallet_id'));
    ELSIF p->>'amount' IS NOT NULL
          AND ledger_amount_refusal((p->>'amount')::numeric, 'refund_amount') IS NOT NULL THEN
        RETURN ledger_amount_refusal((p->>'amount')::numeric, 'refund_amount');
    END IF;
    SELECT * INTO c FROM booking_charges
    WHERE wallet_id = w.wallet_id AND booking_id = p->>'booking_id';
    IF NOT FOUND THEN
        INSERT INTO booking_charges (company_id, wallet_id, booking_id, status, amount)
        VALUES (w.company_id, w.wallet_id, p->>'booking_id', 'CANCELLED', 0);
        RETURN ledger_success(200, '{"applied": true, "transaction": null}');
    ELSIF c.status <> 'DEBITED' THEN
        RETURN ledger_success(200, '{"applied": false, "transaction": null}');
    ELSIF c.refund_txn_id IS NOT NULL THEN
        RETURN ledger_success(200, jsonb_build_object('applied', false, 'transaction',
            (SELECT txn_json(x) FROM transactions x WHERE x.txn_id = c.refund_txn_id)));
    END IF;

    v_out := ledger_entry(p || jsonb_build_object(
        'op', 'CREDIT',
        'amount', least(coalesce((p->>'amount')::numeric, c.amount), c.amount),
        'description', coalesce(p->>'description', 'Refund of booking ' || c.booking_id),
        'reference_id', c.booking_id,
        'reference_type', 'BOOKING_REFUND'), w, false);
    IF NOT (v_out->>'ok')::boolean THEN
        RETURN v_out;
    END IF;
    UPDATE booking_charges
    SET refunded = (v_out->'body'->>'amount')::numeric,
        refund_txn_id = (v_out->'body'->>'txn_id')::uuid, updated_at = now()
    WHERE wallet_id = w.wallet_id AND booking_id = c.booking_id;
    RETURN ledger_success(200, jsonb_build_object('applied', true, 'transaction', v_out->'body'));
END $$;

-- ---------------------------------------------------------------------------------------------
-- The set-based path: a call whose postings are all plain CREDITs and DEBITs that cannot be
-- refused is applied with one statement per table instead of posting by posting. It applies when
-- every wallet exists within scope and may take its postings (DEBIT: ACTIVE; CREDIT: not
-- CLOSED), every debit fits the available balance left by the postings before it, no debited
-- wallet has an ACTIVE budget today, no credit is a refund (budget release), and every
-- idempotency key is new to this call. Its writes are those ledger_entry makes, row for row, so
-- the two paths cannot disagree; anything else goes posting by posting.
-- Returns the outcomes, or NULL when the call does not qualify.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ledger_apply_set(p_postings jsonb, p_ctx jsonb, p_claimed text[])
RETURNS jsonb LANGUAGE plpgsql
-- As for ledger_apply, but the postings' rows are joined with the entries just written by hash.
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = on SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    v_qualifies boolean;
    v_outcomes jsonb;
BEGIN
    WITH p AS (
        SELECT x.n, q.*
        FROM jsonb_array_elements(p_postings) WITH ORDINALITY AS x(e, n),
             jsonb_to_record(p_ctx || x.e) AS q(op text, wallet_id uuid, amount numeric,
                                                reference_type text, company_id uuid, idem jsonb,
                                                event jsonb)),
    r AS (
        SELECT p.*, w.company_id AS w_company, w.status, w.balance, w.held_amount,
               sum(CASE WHEN p.op = 'DEBIT' THEN -p.amount ELSE p.amount END)
                   OVER (PARTITION BY p.wallet_id ORDER BY p.n) AS running
        FROM p LEFT JOIN wallets w ON w.wallet_id = p.wallet_id)
    SELECT bool_and(
               r.op IN ('CREDIT', 'DEBIT')
               AND r.w_company IS NOT NULL
               AND (r.company_id IS NULL OR r.company_id = r.w_company)
               AND r.amount > 0 AND r.amount = round(r.amount, 2)
               AND r.event IS NULL
               AND (r.reference_type IS NULL OR r.reference_type NOT LIKE '%\_REFUND')
               AND (r.idem IS NULL
                    OR (r.idem->>'caller') || E'\n' || (r.idem->>'key') = ANY (p_claimed))
               AND CASE WHEN r.op = 'DEBIT'
                   THEN r.status = 'ACTIVE' AND r.balance - r.held_amount + r.running >= 0
                        AND NOT EXISTS (
                            SELECT 1 FROM budgets b
                            WHERE b.wallet_id = r.wallet_id AND b.status = 'ACTIVE'
                              AND b.start_date <= v_day AND b.end_date >= v_day)
                   ELSE r.status <> 'CLOSED' AND r.balance + r.running <= 9999999999999.99 END)
           AND count(r.idem) = count(DISTINCT r.idem->>'key' || (r.idem->>'caller'))
    INTO v_qualifies
    FROM r;
    IF v_qualifies IS NOT TRUE THEN
        RETURN NULL;
    END IF;

    WITH p AS (
        SELECT x.n, q.*
        FROM jsonb_array_elements(p_postings) WITH ORDINALITY AS x(e, n),
             jsonb_to_record(p_ctx || x.e) AS q(op text, wallet_id uuid, amount numeric,
                 description text, reference_id text, reference_type text, metadata jsonb,
                 idem jsonb, actor_sub uuid, actor_role text, request_id text)),
    r AS MATERIALIZED (
        SELECT p.*, gen_random_uuid() AS txn_id, w.company_id, w.user_id, w.currency,
               w.balance + sum(CASE WHEN p.op = 'DEBIT' THEN -p.amount ELSE p.amount END)
                   OVER (PARTITION BY p.wallet_id ORDER BY p.n) AS balance_after,
               w.version + row_number() OVER (PARTITION BY p.wallet_id ORDER BY p.n)
                   AS version_after
        FROM p JOIN wallets w ON w.wallet_id = p.wallet_id),
    moved AS (
        UPDATE wallets w
        SET balance = w.balance + d.delta, version = w.version + d.postings, updated_at = now()
        FROM (SELECT wallet_id,
                     sum(CASE WHEN op = 'DEBIT' THEN -amount ELSE amount END) AS delta,
                     count(*) AS postings
              FROM p GROUP BY wallet_id) d
        WHERE w.wallet_id = d.wallet_id),
    entries AS (
        INSERT INTO transactions (txn_id, company_id, wallet_id, amount, type, description,
                                  reference_id, reference_type, status, metadata, balance_after,
                                  created_at, updated_at, actor_sub, actor_role, request_id)
        SELECT txn_id, company_id, wallet_id, amount, op, description, reference_id,
               reference_type, 'COMPLETED', metadata, balance_after, clock_timestamp(),
               clock_timestamp(), actor_sub, actor_role, request_id
        FROM r ORDER BY n
        RETURNING *),
    answers AS (
        SELECT r.n, r.idem, r.company_id, r.wallet_id, r.version_after,
               transaction_completed_data(e, r.user_id, r.currency) AS event, txn_json(e) AS body
        FROM r JOIN entries e ON e.txn_id = r.txn_id),
    events AS (
        INSERT INTO outbox (company_id, wallet_id, wallet_version, event_type, data)
        SELECT company_id, wallet_id, version_after, 'TransactionCompleted', event
        FROM answers ORDER BY n),
    remembered AS (
        UPDATE idempotency_keys k SET status_code = 201, response = a.body
        FROM answers a
        WHERE a.idem IS NOT NULL AND k.caller = a.idem->>'caller' AND k.key = a.idem->>'key')
    SELECT jsonb_agg(ledger_success(201, body) ORDER BY n) INTO v_outcomes FROM answers;
    RETURN v_outcomes;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The entry point.
-- ---------------------------------------------------------------------------------------------

-- One posting on its own (its wallets are locked by ledger_apply).
CREATE OR REPLACE FUNCTION ledger_posting(p jsonb, p_dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
BEGIN
    IF p_dry_run AND p->>'op' NOT IN ('CREDIT', 'DEBIT') THEN
        RETURN ledger_refusal('VALIDATION_ERROR', 'only CREDIT and DEBIT postings have dry runs');
    END IF;
    CASE p->>'op'
        WHEN 'CREDIT', 'DEBIT' THEN
            w := ledger_wallet(p);
            IF w.wallet_id IS NULL THEN
                RETURN ledger_refusal('WALLET_NOT_FOUND', format('No wallet %s.', p->>'wallet_id'));
            END IF;
            RETURN ledger_entry(p, w, p_dry_run);
        WHEN 'TRANSFER' THEN RETURN ledger_transfer(p);
        WHEN 'HOLD' THEN RETURN ledger_hold(p);
        WHEN 'CAPTURE' THEN RETURN ledger_capture(p);
        WHEN 'VOID', 'EXPIRE' THEN RETURN ledger_release_hold(p);
        WHEN 'BOOKING_DEBIT' THEN RETURN ledger_booking_debit(p);
        WHEN 'BOOKING_REFUND' THEN RETURN ledger_booking_refund(p);
        ELSE
            RETURN ledger_refusal('VALIDATION_ERROR', format('unknown posting op %L', p->>'op'));
    END CASE;
END $$;

-- Applies p_postings (a JSON array) in request order and returns a JSON array with one outcome
-- per posting. p_ctx holds fields every posting shares (actor, request id, company scope).
--   p_atomic: all or nothing; the first refusal raises its code (MESSAGE), detail (DETAIL) and
--             index (HINT "posting <i>"), and the whole call is rolled back.
--   p_dry_run: evaluate and answer, write nothing (no idempotency record either); each
--             successful outcome has "preview" instead of a body.
-- A posting with "idem" is idempotent on its own: the same key and fingerprint answer the first
-- outcome again ("replayed": true); another fingerprint is IDEMPOTENCY_KEY_REUSED; a refused
-- posting leaves no record, so its retry is evaluated afresh. A posting with "event" takes effect
-- once per event_id (processed_events): a redelivery answers {"applied": false, "transaction":
-- what the first delivery answered}.
CREATE OR REPLACE FUNCTION ledger_apply(p_postings jsonb, p_ctx jsonb DEFAULT '{}',
                                        p_atomic boolean DEFAULT false,
                                        p_dry_run boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql
-- Plan each statement once, not per call, and for what a call is: a few rows from the postings
-- array looked up by key (the planner's fixed guess of 100 rows for a JSON array would make it
-- hash-join whole tables).
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE
    v_claimed text[] := '{}';
    v_events uuid[] := '{}';
    v_event uuid;
    v_hold_wallets uuid[] := '{}';
    v_outcomes jsonb[] := '{}';
    v_out jsonb;
    v_key text;
    p jsonb;
    i bigint;
    r idempotency_keys;
BEGIN
    IF jsonb_typeof(p_postings) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR', DETAIL = 'postings must be an array';
    END IF;

    IF NOT p_dry_run AND jsonb_path_exists(p_postings, '$[*].idem') THEN
        WITH k AS (
            SELECT DISTINCT ON (e->'idem'->>'caller', e->'idem'->>'key')
                   e->'idem'->>'caller' AS caller, e->'idem'->>'key' AS key,
                   e->'idem'->>'hash' AS hash
            FROM jsonb_array_elements(p_postings) WITH ORDINALITY AS x(e, n)
            WHERE e ? 'idem'
            ORDER BY 1, 2, n),
        claimed AS (
            INSERT INTO idempotency_keys (caller, key, request_hash)
            SELECT caller, key, hash FROM k ORDER BY caller, key
            ON CONFLICT DO NOTHING
            RETURNING caller || E'\n' || key AS ck)
        SELECT coalesce(array_agg(ck), '{}') INTO v_claimed FROM claimed;
    END IF;

    IF NOT p_dry_run AND jsonb_path_exists(p_postings, '$[*].event') THEN
        WITH ev AS (
            SELECT DISTINCT ON ((e->'event'->>'event_id')::uuid)
                   (e->'event'->>'event_id')::uuid AS event_id, e->'event'->>'event_type' AS type
            FROM jsonb_array_elements(p_postings) e
            WHERE e ? 'event'
            ORDER BY 1),
        claimed AS (
            INSERT INTO processed_events (event_id, event_type)
            SELECT event_id, type FROM ev ORDER BY event_id
            ON CONFLICT DO NOTHING
            RETURNING event_id)
        SELECT coalesce(array_agg(event_id), '{}') INTO v_events FROM claimed;
    END IF;

    IF jsonb_path_exists(p_postings, '$[*].txn_id') THEN
        v_hold_wallets := ARRAY(
            SELECT t.wallet_id FROM transactions t
            WHERE t.txn_id IN (SELECT (e->>'txn_id')::uuid
                               FROM jsonb_array_elements(p_postings) e));
    END IF;
    PERFORM 1 FROM wallets
    WHERE wallet_id IN (
        SELECT (e->>'wallet_id')::uuid FROM jsonb_array_elements(p_postings) e
        UNION ALL
        SELECT (e->>'to_wallet_id')::uuid FROM jsonb_array_elements(p_postings) e
        UNION ALL
        SELECT unnest(v_hold_wallets))
    ORDER BY wallet_id
    FOR NO KEY UPDATE;

    IF NOT p_dry_run THEN
        v_out := ledger_apply_set(p_postings, p_ctx, v_claimed);
        IF v_out IS NOT NULL THEN
            RETURN v_out;
        END IF;
    END IF;

    -- one scan of the array: indexing a large jsonb by position costs a pass over it each time
    FOR p, i IN SELECT p_ctx || e, n - 1 FROM jsonb_array_elements(p_postings) WITH ORDINALITY AS x(e, n)
    LOOP
        v_out := NULL;
        IF p ? 'idem' AND NOT p_dry_run THEN
            v_key := (p->'idem'->>'caller') || E'\n' || (p->'idem'->>'key');
            IF v_key = ANY (v_claimed) THEN
                v_claimed := array_remove(v_claimed, v_key);
            ELSE
                -- claimed before this call, or by an earlier posting of it
                INSERT INTO idempotency_keys (caller, key, request_hash)
                VALUES (p->'idem'->>'caller', p->'idem'->>'key', p->'idem'->>'hash')
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    SELECT * INTO r FROM idempotency_keys
                    WHERE caller = p->'idem'->>'caller' AND key = p->'idem'->>'key';
                    IF r.request_hash <> p->'idem'->>'hash' THEN
                        v_out := ledger_refusal('IDEMPOTENCY_KEY_REUSED',
                            'This Idempotency-Key was already used with a different request '
                            'body; use a new key for a new request.');
                    ELSE
                        v_out := jsonb_build_object('ok', true, 'status', r.status_code,
                                                    'body', r.response, 'replayed', true);
                    END IF;
                END IF;
            END IF;
            IF v_out IS NULL THEN
                v_out := ledger_posting(p, false);
                IF (v_out->>'ok')::boolean THEN
                    PERFORM idem_store(p->'idem'->>'caller', p->'idem'->>'key',
                                       (v_out->>'status')::integer, v_out->'body');
                ELSE
                    DELETE FROM idempotency_keys
                    WHERE caller = p->'idem'->>'caller' AND key = p->'idem'->>'key';
                END IF;
            END IF;
        ELSIF p ? 'event' AND NOT p_dry_run THEN
            v_event := (p->'event'->>'event_id')::uuid;
            IF v_event = ANY (v_events) THEN
                v_events := array_remove(v_events, v_event);
            ELSE
                INSERT INTO processed_events (event_id, event_type)
                VALUES (v_event, p->'event'->>'event_type')
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    -- applied before: it changes nothing and answers what it answered then
                    v_out := jsonb_build_object('ok', true, 'status', 200, 'replayed', true,
                        'body', jsonb_build_object('applied', false, 'transaction',
                            (SELECT result FROM processed_events WHERE event_id = v_event)));
                END IF;
            END IF;
            IF v_out IS NULL THEN
                v_out := ledger_posting(p, false);
                IF (v_out->>'ok')::boolean THEN
                    UPDATE processed_events SET result = v_out->'body'->'transaction'
                    WHERE event_id = v_event;
                ELSE
                    DELETE FROM processed_events WHERE event_id = v_event;
                END IF;
            END IF;
        ELSE
            v_out := ledger_posting(p, p_dry_run);
        END IF;
        IF p_atomic AND NOT (v_out->>'ok')::boolean THEN
            RAISE EXCEPTION USING MESSAGE = v_out->>'code', DETAIL = v_out->>'detail',
                                  HINT = format('posting %s', i);
        END IF;
        v_outcomes := array_append(v_outcomes, v_out);
    END LOOP;
    RETURN to_jsonb(v_outcomes);
END $$;
