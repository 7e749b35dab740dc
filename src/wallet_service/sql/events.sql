-- The transactional outbox: every change writes its events here, in its own transaction, so an
-- event exists if and only if its change committed (events/outbox.py serves and relays them).

CREATE OR REPLACE FUNCTION emit_event(p_company uuid, p_wallet uuid, p_wallet_version bigint,
                           p_type text, p_data jsonb) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO outbox (company_id, wallet_id, wallet_version, event_type, data)
    VALUES (p_company, p_wallet, p_wallet_version, p_type, p_data)
    RETURNING event_id
$$;

-- The TransactionCompleted event of entry t on wallet w (w as it is after the entry): the one shape
-- of that event for every posting, plus transfer_id for the legs of a transfer.
CREATE OR REPLACE FUNCTION emit_transaction_completed(w wallets, t transactions) RETURNS uuid
LANGUAGE sql AS $$
    SELECT emit_event(w.company_id, w.wallet_id, w.version, 'TransactionCompleted',
        jsonb_build_object(
            'txn_id', t.txn_id,
            'wallet_id', w.wallet_id,
            'user_id', w.user_id,
            'amount', t.amount::text,
            'type', t.type,
            'reference_id', t.reference_id,
            'reference_type', t.reference_type,
            'new_balance', w.balance::text,
            'currency', w.currency)
        || CASE WHEN t.transfer_id IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('transfer_id', t.transfer_id) END)
$$;
