-- The ledger: the only code that moves a wallet balance. Every money movement is ONE call of one
-- of these functions: one statement, so one database transaction and one round trip, and rows are
-- locked only while PostgreSQL runs it (checks, entries, balances, budget usage, outbox rows and
-- the idempotency record together). Errors are raised with MESSAGE = the contract's error code and
-- DETAIL = human text (db/pool.py maps them).
--
-- Row locks are taken FOR NO KEY UPDATE (the mode a plain UPDATE of non-key columns takes): the
-- foreign-key checks of inserts that reference a locked row take KEY SHARE, which does not
-- conflict with it, so such inserts never queue behind a posting or close a deadlock cycle.
--
-- Lock order, the same everywhere so no two of these can deadlock:
--   hold transaction row -> wallet row(s) in wallet_id order -> budget rows in budget_id order.
-- (ledger_post and budget_consume lock wallet -> budgets, a suffix of this order.)

-- ---------------------------------------------------------------------------------------------
-- Credits and debits
-- ---------------------------------------------------------------------------------------------

-- Posts a CREDIT or a DEBIT: the conditional UPDATE re-checks status and available balance after
-- a concurrent writer commits, so racing debits can neither overdraw nor lose an update. A DEBIT
-- counts against the budgets (budget_consume); a CREDIT with reference_type '<X>_REFUND' gives back
-- what the '<X>' debits of the same reference used (budget_release).
-- Returns {"status": 201, "body": <transaction>, "replayed": bool}.
CREATE OR REPLACE FUNCTION ledger_post(
    p_wallet_id uuid,
    p_type text,
    p_amount numeric,
    p_description text DEFAULT NULL,
    p_reference_id text DEFAULT NULL,
    p_reference_type text DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_company_id uuid DEFAULT NULL,      -- when set, the wallet must belong to this company
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    w wallets;
    t transactions;
    v_body jsonb;
BEGIN
    IF p_type NOT IN ('CREDIT', 'DEBIT') THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR', DETAIL = 'type must be CREDIT or DEBIT';
    END IF;
    PERFORM check_amount(p_amount);

    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;

    IF p_type = 'DEBIT' THEN
        UPDATE wallets
        SET balance = balance - p_amount, version = version + 1, updated_at = now()
        WHERE wallet_id = p_wallet_id
          AND (p_company_id IS NULL OR company_id = p_company_id)
          AND status = 'ACTIVE'
          AND balance - held_amount >= p_amount
        RETURNING * INTO w;
    ELSE
        UPDATE wallets
        SET balance = balance + p_amount, version = version + 1, updated_at = now()
        WHERE wallet_id = p_wallet_id
          AND (p_company_id IS NULL OR company_id = p_company_id)
          AND status IN ('ACTIVE', 'FROZEN')
        RETURNING * INTO w;
    END IF;

    IF NOT FOUND THEN
        SELECT * INTO w FROM wallets
        WHERE wallet_id = p_wallet_id AND (p_company_id IS NULL OR company_id = p_company_id);
        IF NOT FOUND THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND',
                DETAIL = format('No wallet %s.', p_wallet_id);
        ELSIF w.status = 'CLOSED' OR (p_type = 'DEBIT' AND w.status <> 'ACTIVE') THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
                DETAIL = format('Wallet %s is %s and cannot take a %s.', p_wallet_id, w.status, p_type);
        ELSIF p_type = 'DEBIT' THEN
            RAISE EXCEPTION USING MESSAGE = 'INSUFFICIENT_FUNDS',
                DETAIL = format('Available balance is %s %s; the debit needs %s.',
                                w.balance - w.held_amount, w.currency, p_amount);
        ELSE
            -- only reachable when the amount would overflow NUMERIC(15,2)
            RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR', DETAIL = 'amount is too large';
        END IF;
    END IF;

    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              reference_type, status, metadata, balance_after)
    VALUES (w.company_id, w.wallet_id, p_amount, p_type, p_description, p_reference_id,
            p_reference_type, 'COMPLETED', p_metadata, w.balance)
    RETURNING * INTO t;

    IF p_type = 'DEBIT' THEN
        PERFORM budget_consume(t.txn_id, w, p_amount, (now() AT TIME ZONE 'UTC')::date);
    ELSIF p_reference_type IS NOT NULL AND p_reference_id IS NOT NULL
          AND p_reference_type LIKE '%\_REFUND' THEN
        PERFORM budget_release(t.txn_id, w.wallet_id, left(p_reference_type, -7), p_reference_id,
                               p_amount);
    END IF;

    PERFORM emit_transaction_completed(w, t);

    v_body := txn_json(t);
    RETURN idem_finish(p_idem_caller, p_idem_key, 201, v_body);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Transfers
-- ---------------------------------------------------------------------------------------------

-- Moves p_amount from p_from to p_to: a TRANSFER_OUT and a TRANSFER_IN linked by one transfer_id,
-- each with its balance_after. Same company and currency only; the source must be ACTIVE with
-- enough available balance, the destination ACTIVE or FROZEN. Transfers are not spending, so no
-- budget is touched. Both wallet rows are locked in wallet_id order, so two opposite transfers
-- wait for each other instead of deadlocking.
-- Returns {"status": 201, "body": {transfer_id, debit, credit}, "replayed": bool}.
CREATE OR REPLACE FUNCTION ledger_transfer(
    p_from uuid,
    p_to uuid,
    p_amount numeric,
    p_description text DEFAULT NULL,
    p_reference_id text DEFAULT NULL,
    p_company_id uuid DEFAULT NULL,      -- when set, both wallets must belong to this company
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    wf wallets;
    wt wallets;
    tf transactions;
    tt transactions;
    v_transfer_id uuid := gen_random_uuid();
    v_body jsonb;
BEGIN
    PERFORM check_amount(p_amount);
    IF p_from = p_to THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR',
            DETAIL = 'from_wallet_id and to_wallet_id must differ: a wallet cannot pay itself';
    END IF;

    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;

    -- The fixed lock order: the rows are locked as they leave the sort.
    PERFORM 1 FROM wallets WHERE wallet_id IN (p_from, p_to) ORDER BY wallet_id FOR NO KEY UPDATE;

    SELECT * INTO wf FROM wallets
    WHERE wallet_id = p_from AND (p_company_id IS NULL OR company_id = p_company_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND', DETAIL = format('No wallet %s.', p_from);
    END IF;
    SELECT * INTO wt FROM wallets
    WHERE wallet_id = p_to AND (p_company_id IS NULL OR company_id = p_company_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND', DETAIL = format('No wallet %s.', p_to);
    END IF;
    IF wf.company_id <> wt.company_id THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR',
            DETAIL = 'Transfers between wallets of two different companies are not allowed.';
    END IF;
    IF wf.currency <> wt.currency THEN
        RAISE EXCEPTION USING MESSAGE = 'CURRENCY_MISMATCH',
            DETAIL = format('Wallet %s holds %s but wallet %s holds %s; transfers need one currency.',
                            wf.wallet_id, wf.currency, wt.wallet_id, wt.currency);
    END IF;
    IF wf.status <> 'ACTIVE' THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
            DETAIL = format('The source wallet %s is %s and cannot send money.', wf.wallet_id, wf.status);
    END IF;
    IF wt.status = 'CLOSED' THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
            DETAIL = format('The destination wallet %s is CLOSED and cannot receive money.', wt.wallet_id);
    END IF;
    IF wf.balance - wf.held_amount < p_amount THEN
        RAISE EXCEPTION USING MESSAGE = 'INSUFFICIENT_FUNDS',
            DETAIL = format('Available balance is %s %s; the transfer needs %s.',
                            wf.balance - wf.held_amount, wf.currency, p_amount);
    END IF;

    UPDATE wallets SET balance = balance - p_amount, version = version + 1, updated_at = now()
    WHERE wallet_id = wf.wallet_id RETURNING * INTO wf;
    UPDATE wallets SET balance = balance + p_amount, version = version + 1, updated_at = now()
    WHERE wallet_id = wt.wallet_id RETURNING * INTO wt;

    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              status, metadata, balance_after, transfer_id)
    VALUES (wf.company_id, wf.wallet_id, p_amount, 'TRANSFER_OUT', p_description, p_reference_id,
            'COMPLETED', jsonb_build_object('counterparty_wallet_id', wt.wallet_id), wf.balance,
            v_transfer_id)
    RETURNING * INTO tf;
    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              status, metadata, balance_after, transfer_id)
    VALUES (wt.company_id, wt.wallet_id, p_amount, 'TRANSFER_IN', p_description, p_reference_id,
            'COMPLETED', jsonb_build_object('counterparty_wallet_id', wf.wallet_id), wt.balance,
            v_transfer_id)
    RETURNING * INTO tt;

    PERFORM emit_transaction_completed(wf, tf);
    PERFORM emit_transaction_completed(wt, tt);
    -- filed under the source wallet, so it is published in order with that wallet's events
    PERFORM emit_event(wf.company_id, wf.wallet_id, wf.version, 'TransferCompleted',
        jsonb_build_object(
            'transfer_id', v_transfer_id,
            'from_wallet_id', wf.wallet_id,
            'to_wallet_id', wt.wallet_id,
            'amount', p_amount::numeric(15,2)::text,
            'currency', wf.currency,
            'debit_txn_id', tf.txn_id,
            'credit_txn_id', tt.txn_id,
            'reference_id', p_reference_id));

    v_body := jsonb_build_object('transfer_id', v_transfer_id, 'debit', txn_json(tf),
                                 'credit', txn_json(tt));
    RETURN idem_finish(p_idem_caller, p_idem_key, 201, v_body);
END $$;

-- ---------------------------------------------------------------------------------------------
-- Holds (two-phase debits)
-- ---------------------------------------------------------------------------------------------

-- Gives back every budget reservation of the hold p_txn_id (its wallet row must be locked).
CREATE OR REPLACE FUNCTION hold_release_reservations(p_txn_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r hold_reservations;
BEGIN
    FOR r IN
        SELECT * FROM hold_reservations WHERE txn_id = p_txn_id ORDER BY budget_id
    LOOP
        UPDATE budgets
        SET reserved_amount = greatest(reserved_amount - r.amount, 0), updated_at = now()
        WHERE budget_id = r.budget_id;
    END LOOP;
    DELETE FROM hold_reservations WHERE txn_id = p_txn_id;
END $$;

-- Places a hold: a PENDING DEBIT with hold_amount = p_amount that takes nothing from balance but
-- raises held_amount at once (so available_balance drops), and reserves p_amount against every
-- ACTIVE HARD budget of the wallet covering today (refused with BUDGET_EXCEEDED when
-- used + reserved + p_amount would pass its total). Needs an ACTIVE wallet and
-- p_amount <= available_balance. p_expires_at defaults to 7 days from now and must be in the future.
-- Returns {"status": 201, "body": <transaction>, "replayed": bool}.
CREATE OR REPLACE FUNCTION ledger_hold(
    p_wallet_id uuid,
    p_amount numeric,
    p_description text DEFAULT NULL,
    p_reference_id text DEFAULT NULL,
    p_reference_type text DEFAULT NULL,
    p_expires_at timestamptz DEFAULT NULL,
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    v_expires timestamptz := coalesce(p_expires_at, now() + interval '7 days');
    v_day date := (now() AT TIME ZONE 'UTC')::date;
    w wallets;
    t transactions;
    b budgets;
    v_body jsonb;
BEGIN
    PERFORM check_amount(p_amount);
    IF v_expires <= now() THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR',
            DETAIL = format('expires_at must be in the future (got %s)', v_expires);
    END IF;

    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;

    UPDATE wallets
    SET held_amount = held_amount + p_amount, version = version + 1, updated_at = now()
    WHERE wallet_id = p_wallet_id AND status = 'ACTIVE' AND balance - held_amount >= p_amount
    RETURNING * INTO w;
    IF NOT FOUND THEN
        SELECT * INTO w FROM wallets WHERE wallet_id = p_wallet_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND',
                DETAIL = format('No wallet %s.', p_wallet_id);
        ELSIF w.status <> 'ACTIVE' THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
                DETAIL = format('Wallet %s is %s and cannot take a hold.', p_wallet_id, w.status);
        ELSE
            RAISE EXCEPTION USING MESSAGE = 'INSUFFICIENT_FUNDS',
                DETAIL = format('Available balance is %s %s; the hold needs %s.',
                                w.balance - w.held_amount, w.currency, p_amount);
        END IF;
    END IF;

    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              reference_type, status, hold_amount, expires_at)
    VALUES (w.company_id, w.wallet_id, p_amount, 'DEBIT', p_description, p_reference_id,
            p_reference_type, 'PENDING', p_amount, v_expires)
    RETURNING * INTO t;

    FOR b IN
        SELECT * FROM budgets
        WHERE wallet_id = w.wallet_id AND status = 'ACTIVE' AND enforcement = 'HARD'
          AND start_date <= v_day AND end_date >= v_day
        ORDER BY budget_id
        FOR NO KEY UPDATE
    LOOP
        IF b.used_amount + b.reserved_amount + p_amount > b.total_amount THEN
            RAISE EXCEPTION USING MESSAGE = 'BUDGET_EXCEEDED',
                DETAIL = format('This hold of %s would take the %s budget %s past its total of %s '
                                '(used %s, reserved %s).', p_amount, b.period_type, b.budget_id,
                                b.total_amount, b.used_amount, b.reserved_amount);
        END IF;
        UPDATE budgets SET reserved_amount = reserved_amount + p_amount, updated_at = now()
        WHERE budget_id = b.budget_id;
        INSERT INTO hold_reservations (txn_id, budget_id, company_id, amount)
        VALUES (t.txn_id, b.budget_id, b.company_id, p_amount);
    END LOOP;

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

    v_body := txn_json(t);
    RETURN idem_finish(p_idem_caller, p_idem_key, 201, v_body);
END $$;

-- Locks the hold p_txn_id and checks it is still open; raises TRANSACTION_NOT_FOUND or
-- HOLD_NOT_PENDING. Settling functions call it first, so a hold is settled at most once: a racing
-- second call waits on the row lock and then sees the settled status.
CREATE OR REPLACE FUNCTION hold_lock_open(p_txn_id uuid) RETURNS transactions
LANGUAGE plpgsql AS $$
DECLARE
    t transactions;
BEGIN
    SELECT * INTO t FROM transactions WHERE txn_id = p_txn_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING MESSAGE = 'TRANSACTION_NOT_FOUND',
            DETAIL = format('No transaction %s.', p_txn_id);
    END IF;
    IF t.status <> 'PENDING' OR t.hold_amount IS NULL THEN
        RAISE EXCEPTION USING MESSAGE = 'HOLD_NOT_PENDING',
            DETAIL = CASE WHEN t.hold_amount IS NULL
                THEN format('Transaction %s is a %s, not a hold.', p_txn_id, t.type)
                ELSE format('Hold %s is already %s.', p_txn_id, t.status) END;
    END IF;
    RETURN t;
END $$;

-- Cancels the open hold t (already locked by hold_lock_open): gives back held_amount and the
-- budget reservations, marks it CANCELLED and emits HoldVoided with p_reason (VOIDED or EXPIRED).
-- Allowed whatever the wallet status: releasing money never hurts the owner.
CREATE OR REPLACE FUNCTION hold_cancel(t transactions, p_reason text) RETURNS transactions
LANGUAGE plpgsql AS $$
DECLARE
    w wallets;
BEGIN
    UPDATE wallets
    SET held_amount = held_amount - t.hold_amount, version = version + 1, updated_at = now()
    WHERE wallet_id = t.wallet_id
    RETURNING * INTO w;
    PERFORM hold_release_reservations(t.txn_id);
    UPDATE transactions SET status = 'CANCELLED', updated_at = now()
    WHERE txn_id = t.txn_id RETURNING * INTO t;
    PERFORM emit_event(w.company_id, w.wallet_id, w.version, 'HoldVoided',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.hold_amount::text,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'reason', p_reason,
            'available_balance', (w.balance - w.held_amount)::text,
            'currency', w.currency));
    RETURN t;
END $$;

-- Captures p_amount (default: all) of an open hold: balance -= captured, held_amount -= the whole
-- hold (the rest is released), reservations given back and the captured amount counted as budget
-- usage on the hold's date (budget_consume: usage rows, BudgetExceeded alerts). The transaction
-- becomes a COMPLETED DEBIT whose amount is what was captured; hold_amount keeps what was held.
-- Capture needs an ACTIVE wallet (a FROZEN one refuses debits); an expired hold cannot be captured.
-- Returns {"status": 200, "body": <transaction>, "replayed": bool}.
CREATE OR REPLACE FUNCTION ledger_capture(
    p_txn_id uuid,
    p_amount numeric DEFAULT NULL,
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    t transactions;
    w wallets;
    v_capture numeric(15,2);
    v_body jsonb;
BEGIN
    IF p_amount IS NOT NULL THEN
        PERFORM check_amount(p_amount);
    END IF;

    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;

    t := hold_lock_open(p_txn_id);
    IF t.expires_at <= now() THEN
        RAISE EXCEPTION USING MESSAGE = 'HOLD_NOT_PENDING',
            DETAIL = format('Hold %s expired at %s and can no longer be captured.',
                            p_txn_id, t.expires_at);
    END IF;
    v_capture := coalesce(p_amount, t.hold_amount);
    IF v_capture > t.hold_amount THEN
        RAISE EXCEPTION USING MESSAGE = 'CAPTURE_EXCEEDS_HOLD',
            DETAIL = format('Hold %s holds %s; cannot capture %s.', p_txn_id, t.hold_amount, v_capture);
    END IF;

    SELECT * INTO w FROM wallets WHERE wallet_id = t.wallet_id FOR NO KEY UPDATE;
    IF w.status <> 'ACTIVE' THEN
        RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
            DETAIL = format('Wallet %s is %s: its holds can be voided but not captured.',
                            w.wallet_id, w.status);
    END IF;
    UPDATE wallets
    SET balance = balance - v_capture, held_amount = held_amount - t.hold_amount,
        version = version + 1, updated_at = now()
    WHERE wallet_id = w.wallet_id
    RETURNING * INTO w;

    PERFORM hold_release_reservations(t.txn_id);
    UPDATE transactions
    SET status = 'COMPLETED', amount = v_capture, balance_after = w.balance, updated_at = now()
    WHERE txn_id = t.txn_id
    RETURNING * INTO t;
    PERFORM budget_consume(t.txn_id, w, v_capture, (t.created_at AT TIME ZONE 'UTC')::date);

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

    v_body := txn_json(t);
    RETURN idem_finish(p_idem_caller, p_idem_key, 200, v_body);
END $$;

-- Voids an open hold: everything it held and reserved is given back; HoldVoided, reason VOIDED.
-- Returns {"status": 200, "body": <transaction>, "replayed": bool}.
CREATE OR REPLACE FUNCTION ledger_void(
    p_txn_id uuid,
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    t transactions;
    v_body jsonb;
BEGIN
    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;
    t := hold_cancel(hold_lock_open(p_txn_id), 'VOIDED');
    v_body := txn_json(t);
    RETURN idem_finish(p_idem_caller, p_idem_key, 200, v_body);
END $$;

-- Expires up to p_limit open holds whose expires_at <= p_now (HoldVoided, reason EXPIRED) and
-- returns how many. Safe with several instances: each hold is claimed with FOR UPDATE SKIP LOCKED,
-- so a hold being expired, captured or voided elsewhere is skipped, never settled twice. Holds are
-- taken in wallet_id order so wallet rows are locked in the same order as transfers lock them.
CREATE OR REPLACE FUNCTION hold_expire_due(p_now timestamptz, p_limit integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t transactions;
    v_count integer := 0;
BEGIN
    FOR t IN
        SELECT * FROM transactions
        WHERE status = 'PENDING' AND hold_amount IS NOT NULL AND expires_at <= p_now
        ORDER BY wallet_id, txn_id
        LIMIT p_limit
        FOR NO KEY UPDATE SKIP LOCKED
    LOOP
        PERFORM hold_cancel(t, 'EXPIRED');
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Bookings (consumed events): decided once per (wallet, booking) in booking_charges, whatever the
-- event ids of the deliveries; the wallet lock serialises every delivery of a booking.
-- ---------------------------------------------------------------------------------------------

-- BookingCreated: debits the wallet once per booking, or records why it was refused (a FAILED
-- entry and a TransactionFailed event). Returns {"applied": bool, "transaction": <txn_json>};
-- applied = false when the booking was already decided (paid or refused) by an earlier delivery.
CREATE OR REPLACE FUNCTION booking_debit(p_wallet_id uuid, p_booking_id text, p_amount numeric,
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

-- BookingCancelled: refunds a paid booking once, by default in full, never more than was debited.
-- Returns {"applied": bool, "transaction": <txn_json> | null}; applied = false when the booking
-- was refused or already refunded. A cancellation that overtakes its booking (both are delivered
-- concurrently, or the booking is being retried) leaves a CANCELLED mark, so the booking, when it
-- arrives, is never charged.
CREATE OR REPLACE FUNCTION booking_refund(p_wallet_id uuid, p_booking_id text, p_amount numeric DEFAULT NULL,
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
