-- Statements and reports: when an entry's money moved.

-- A posting moves money when it is written; a hold when it is captured (its created_at is when it
-- was placed, and other entries of the wallet may come in between). In this order an entry's
-- balance_after is the wallet's balance from that instant on, so a balance at any instant is one
-- index lookup. PostgreSQL inlines this function; the report indexes of migration 0008 are built
-- on the same CASE expression.
CREATE OR REPLACE FUNCTION txn_posted_at(p_created_at timestamptz, p_updated_at timestamptz,
                                         p_hold_amount numeric) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_hold_amount IS NULL THEN p_created_at ELSE p_updated_at END
$$;

-- The one JSON shape of a budget in the budget report: the budget, its wallet's user and currency,
-- and utilisation_pct = used / total x 100 rounded to two decimals (half away from zero; usage is
-- never negative), a JSON number.
CREATE OR REPLACE FUNCTION budget_utilisation_pct(b budgets) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT round(b.used_amount * 100 / b.total_amount, 2)
$$;

CREATE OR REPLACE FUNCTION budget_report_json(b budgets, p_user_id uuid, p_currency text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'budget_id', b.budget_id,
        'wallet_id', b.wallet_id,
        'user_id', p_user_id,
        'currency', p_currency,
        'period_type', b.period_type,
        'start_date', b.start_date,
        'end_date', b.end_date,
        'total_amount', b.total_amount::text,
        'used_amount', b.used_amount::text,
        'reserved_amount', b.reserved_amount::text,
        'remaining_amount', b.remaining_amount::text,
        'utilisation_pct', budget_utilisation_pct(b),
        'enforcement', b.enforcement,
        'status', b.status)
$$;
