-- The transactional outbox: every change writes its events here, in its own transaction, so an
-- event exists if and only if its change committed (events/outbox.py serves and relays them).
-- Functions on the posting path are PL/pgSQL rather than SQL: PL/pgSQL keeps its statements'
-- plans for the session, where a non-inlined SQL function is planned again on every call
-- (before PostgreSQL 18).

CREATE OR REPLACE FUNCTION emit_event(p_company uuid, p_wallet uuid, p_wallet_version bigint,
                           p_type text, p_data jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_event_id uuid;
BEGIN
    INSERT INTO outbox (company_id, wallet_id, wallet_version, event_type, data)
    VALUES (p_company, p_wallet, p_wallet_version, p_type, p_data)
    RETURNING event_id INTO v_event_id;
    RETURN v_event_id;
END $$;

-- The data of the TransactionCompleted event of entry t, made by the wallet of p_user_id in
-- p_currency: the one shape of that event for every posting, plus transfer_id for the legs of a
-- transfer. new_balance is the entry's balance_after.
CREATE OR REPLACE FUNCTION transaction_completed_data(t transactions, p_user_id uuid,
                                                      p_currency text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', t.wallet_id,
            'user_id', p_user_id,
            'amount', t.amount::text,
            'type', t.type,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'new_balance', t.balance_after::text,
            'currency', p_currency)
        || CASE WHEN t.transfer_id IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('transfer_id', t.transfer_id) END
$$;

-- Emits the TransactionCompleted event of entry t on wallet w (w as it is after the entry).
CREATE OR REPLACE FUNCTION emit_transaction_completed(w wallets, t transactions) RETURNS uuid
LANGUAGE plpgsql AS $$
BEGIN
    RETURN emit_event(w.company_id, w.wallet_id, w.version, 'TransactionCompleted',
                      transaction_completed_data(t, w.user_id, w.currency));
END $$;
