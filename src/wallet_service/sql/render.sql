-- Rendering: the one JSON shape of each row the API returns. Amounts are 2-decimal strings,
-- dates ISO dates. Python serves these objects as they are, so the SQL functions and the HTTP
-- answers can never disagree on a field.

CREATE OR REPLACE FUNCTION txn_json(t transactions) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'txn_id', t.txn_id,
        'wallet_id', t.wallet_id,
        'amount', t.amount::text,
        'type', t.type,
        'description', t.description,
        'reference_id', t.reference_id,
        'reference_type', t.reference_type,
        'status', t.status,
        'metadata', t.metadata,
        'balance_after', t.balance_after::text,
        'transfer_id', t.transfer_id,
        'hold_amount', t.hold_amount::text,
        'expires_at', t.expires_at,
        'failure_code', t.failure_code,
        'created_at', t.created_at,
        'updated_at', t.updated_at)
$$;

CREATE OR REPLACE FUNCTION wallet_json(w wallets) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'wallet_id', w.wallet_id,
        'user_id', w.user_id,
        'company_id', w.company_id,
        'balance', w.balance::text,
        'available_balance', (w.balance - w.held_amount)::text,
        'held_amount', w.held_amount::text,
        'currency', w.currency,
        'status', w.status,
        'version', w.version,
        'created_at', w.created_at,
        'updated_at', w.updated_at)
$$;

CREATE OR REPLACE FUNCTION budget_json(b budgets) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'budget_id', b.budget_id,
        'wallet_id', b.wallet_id,
        'company_id', b.company_id,
        'total_amount', b.total_amount::text,
        'used_amount', b.used_amount::text,
        'reserved_amount', b.reserved_amount::text,
        'remaining_amount', b.remaining_amount::text,
        'period_type', b.period_type,
        'start_date', b.start_date,
        'end_date', b.end_date,
        'status', b.status,
        'enforcement', b.enforcement,
        'alert_thresholds', to_jsonb(b.alert_thresholds),
        'auto_renew', b.auto_renew,
        'renewed_from', b.renewed_from,
        'created_by', b.created_by,
        'created_at', b.created_at,
        'updated_at', b.updated_at)
$$;

CREATE OR REPLACE FUNCTION budget_history_json(h budget_history) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'history_id', h.history_id,
        'budget_id', h.budget_id,
        'old_amount', h.old_amount::text,
        'new_amount', h.new_amount::text,
        'old_status', h.old_status,
        'new_status', h.new_status,
        'change_reason', h.change_reason,
        'changed_by', h.changed_by,
        'created_at', h.created_at)
$$;
