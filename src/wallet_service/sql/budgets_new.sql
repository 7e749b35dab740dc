-- Locks the ACTIVE budgets of wallet p_wallet covering p_day (budget_id order) and returns why
-- p_amount more (a debit, a hold or a capture: p_what) would take a HARD one past its total
-- counting usage and reservations, or NULL when it fits. p_releasing names a hold whose
-- reservations are given back first (its capture).
CREATE OR REPLACE FUNCTION budget_refusal(p_wallet uuid, p_amount numeric, p_day date,
                                          p_what text, p_releasing uuid DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    WITH b AS (
        SELECT * FROM budgets
        WHERE wallet_id = p_wallet AND status = 'ACTIVE'
          AND start_date <= p_day AND end_date >= p_day
        ORDER BY budget_id
        FOR NO KEY UPDATE)
    SELECT format('This %s of %s would take the %s budget %s past its total of %s '
                  '(used %s, reserved %s).', p_what, p_amount, b.period_type, b.budget_id,
                  b.total_amount, b.used_amount, b.reserved_amount)
    FROM b
    LEFT JOIN hold_reservations r ON r.txn_id = p_releasing AND r.budget_id = b.budget_id
    WHERE b.enforcement = 'HARD'
      AND b.used_amount + greatest(b.reserved_amount - coalesce(r.amount, 0), 0) + p_amount
          > b.total_amount
    ORDER BY b.budget_id
    LIMIT 1
$$;

-- Reserves p_amount of hold p_txn_id against every ACTIVE HARD budget of the wallet covering
-- p_day (already locked and checked by budget_refusal), remembering how much went where.
CREATE OR REPLACE FUNCTION budget_reserve(p_txn_id uuid, p_wallet uuid, p_amount numeric,
                                          p_day date)
RETURNS void LANGUAGE sql AS $$
    WITH b AS (
        UPDATE budgets SET reserved_amount = reserved_amount + p_amount, updated_at = now()
        WHERE wallet_id = p_wallet AND status = 'ACTIVE' AND enforcement = 'HARD'
          AND start_date <= p_day AND end_date >= p_day
        RETURNING budget_id, company_id)
    INSERT INTO hold_reservations (txn_id, budget_id, company_id, amount)
    SELECT p_txn_id, budget_id, company_id, p_amount FROM b
$$;
