-- Budgets on the posting path: what a debit counts against, what a refund gives back, and the one
-- home of the alert threshold rule. Called by the ledger functions with the wallet row locked;
-- budget rows are locked in budget_id order.

-- Given budget b (its total_amount and alerted_thresholds as they stand) and its usage p_used,
-- emits one BudgetExceeded per alert threshold that p_used reaches and that was not announced yet
-- (ascending), and returns the new alerted_thresholds: exactly the thresholds p_used reaches, so a
-- threshold that usage falls back below (refund, raised total) is re-armed and announced again on
-- its next crossing, never twice for the same one. The caller stores the returned array.
CREATE OR REPLACE FUNCTION budget_alerts(b budgets, p_used numeric, p_user_id uuid, p_wallet_version bigint,
                              p_txn_id uuid) RETURNS integer[]
LANGUAGE plpgsql AS $$
DECLARE
    v_reached integer[];
    v_threshold integer;
BEGIN
    v_reached := coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(b.alert_thresholds) t
                           WHERE p_used * 100 >= b.total_amount * t), '{}');
    FOREACH v_threshold IN ARRAY v_reached LOOP
        CONTINUE WHEN v_threshold = ANY (b.alerted_thresholds);
        PERFORM emit_event(b.company_id, b.wallet_id, p_wallet_version, 'BudgetExceeded',
            jsonb_build_object(
                'budget_id', b.budget_id,
                'wallet_id', b.wallet_id,
                'user_id', p_user_id,
                'exceeded_amount', greatest(p_used - b.total_amount, 0)::numeric(15,2)::text,
                'threshold_percentage', v_threshold,
                'used_amount', p_used::numeric(15,2)::text,
                'total_amount', b.total_amount::text,
                'period_type', b.period_type,
                'enforcement', b.enforcement,
                'txn_id', p_txn_id));
    END LOOP;
    RETURN v_reached;
END $$;

-- Counts p_amount of a debit against every ACTIVE budget of the wallet whose dates hold p_day,
-- refusing with BUDGET_EXCEEDED when a HARD one would pass its total (used + reserved), recording
-- the usage per budget in budget_usages, and announcing the thresholds crossed. Budgets are locked
-- in budget_id order; the wallet lock held by the caller already serialises debits of one wallet.
CREATE OR REPLACE FUNCTION budget_consume(p_txn_id uuid, p_wallet wallets, p_amount numeric, p_day date)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    b budgets;
    v_new_used numeric(15,2);
BEGIN
    FOR b IN
        SELECT * FROM budgets
        WHERE wallet_id = p_wallet.wallet_id AND status = 'ACTIVE'
          AND start_date <= p_day AND end_date >= p_day
        ORDER BY budget_id
        FOR NO KEY UPDATE
    LOOP
        v_new_used := b.used_amount + p_amount;
        IF b.enforcement = 'HARD' AND v_new_used + b.reserved_amount > b.total_amount THEN
            RAISE EXCEPTION USING MESSAGE = 'BUDGET_EXCEEDED',
                DETAIL = format('This debit of %s would take the %s budget %s past its total of %s '
                                '(used %s, reserved %s).', p_amount, b.period_type, b.budget_id,
                                b.total_amount, b.used_amount, b.reserved_amount);
        END IF;
        INSERT INTO budget_usages (txn_id, budget_id, company_id, amount)
        VALUES (p_txn_id, b.budget_id, b.company_id, p_amount);
        UPDATE budgets
        SET used_amount = v_new_used,
            alerted_thresholds = budget_alerts(b, v_new_used, p_wallet.user_id, p_wallet.version,
                                               p_txn_id),
            updated_at = now()
        WHERE budget_id = b.budget_id;
    END LOOP;
END $$;

-- Gives back the budget usage of the wallet's debits with reference (p_reference_type,
-- p_reference_id) for a refund p_txn_id of p_amount. A debit counts in full against each budget
-- it was counted against, so each of those budgets gets back min(p_amount, what the booking still
-- has outstanding on it): never more than the booking used, net of earlier refunds of the same
-- booking. Recorded as negative usage of the refund; thresholds usage falls back below re-arm.
CREATE OR REPLACE FUNCTION budget_release(p_txn_id uuid, p_wallet_id uuid, p_reference_type text,
                               p_reference_id text, p_amount numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    u record;
    b budgets;
    v_give numeric(15,2);
    v_used numeric(15,2);
    v_user uuid;
    v_version bigint;
BEGIN
    SELECT user_id, version INTO v_user, v_version FROM wallets WHERE wallet_id = p_wallet_id;
    FOR u IN
        SELECT bu.budget_id, sum(bu.amount) AS outstanding
        FROM budget_usages bu
        JOIN transactions t ON t.txn_id = bu.txn_id
        WHERE t.wallet_id = p_wallet_id AND t.reference_id = p_reference_id
          AND t.reference_type IN (p_reference_type, p_reference_type || '_REFUND')
        GROUP BY bu.budget_id
        HAVING sum(bu.amount) > 0
        ORDER BY bu.budget_id
    LOOP
        SELECT * INTO b FROM budgets WHERE budget_id = u.budget_id FOR NO KEY UPDATE;
        v_give := least(p_amount, u.outstanding, b.used_amount);
        CONTINUE WHEN v_give <= 0;
        v_used := b.used_amount - v_give;
        INSERT INTO budget_usages (txn_id, budget_id, company_id, amount)
        VALUES (p_txn_id, b.budget_id, b.company_id, -v_give);
        UPDATE budgets
        SET used_amount = v_used,
            alerted_thresholds = budget_alerts(b, v_used, v_user, v_version, p_txn_id),
            updated_at = now()
        WHERE budget_id = b.budget_id;
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------------------------
-- Checks and reservations for the posting engine (sql/ledger.sql), with the wallet locked.
-- ---------------------------------------------------------------------------------------------

-- Locks the ACTIVE budgets of wallet p_wallet covering p_day (budget_id order) and returns why
-- p_amount more (a debit, a hold or a capture: p_what) would take a HARD one past its total
-- counting usage and reservations, or NULL when it fits. p_releasing names a hold whose
-- reservations are given back first (its capture).
CREATE OR REPLACE FUNCTION budget_refusal(p_wallet uuid, p_amount numeric, p_day date,
                                          p_what text, p_releasing uuid DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
BEGIN
    WITH b AS (
        SELECT * FROM budgets
        WHERE wallet_id = p_wallet AND status = 'ACTIVE'
          AND start_date <= p_day AND end_date >= p_day
        ORDER BY budget_id
        FOR NO KEY UPDATE)
    SELECT format('This %s of %s would take the %s budget %s past its total of %s '
                  '(used %s, reserved %s).', p_what, p_amount, b.period_type, b.budget_id,
                  b.total_amount, b.used_amount, b.reserved_amount)
    INTO v_detail
    FROM b
    LEFT JOIN hold_reservations r ON r.txn_id = p_releasing AND r.budget_id = b.budget_id
    WHERE b.enforcement = 'HARD'
      AND b.used_amount + greatest(b.reserved_amount - coalesce(r.amount, 0), 0) + p_amount
          > b.total_amount
    ORDER BY b.budget_id
    LIMIT 1;
    RETURN v_detail;
END $$;

-- Reserves p_amount of hold p_txn_id against every ACTIVE HARD budget of the wallet covering
-- p_day (already locked and checked by budget_refusal), remembering how much went where.
CREATE OR REPLACE FUNCTION budget_reserve(p_txn_id uuid, p_wallet uuid, p_amount numeric,
                                          p_day date)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH b AS (
        UPDATE budgets SET reserved_amount = reserved_amount + p_amount, updated_at = now()
        WHERE wallet_id = p_wallet AND status = 'ACTIVE' AND enforcement = 'HARD'
          AND start_date <= p_day AND end_date >= p_day
        RETURNING budget_id, company_id)
    INSERT INTO hold_reservations (txn_id, budget_id, company_id, amount)
    SELECT p_txn_id, budget_id, company_id, p_amount FROM b;
END $$;

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
