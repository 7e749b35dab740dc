-- 0005: Statements and reports (issue 12). Reads only: nothing here changes how money moves.
--
-- Reports date and order COMPLETED entries by when their money moved, `txn_posted_at`: a posting
-- when it was written; a captured hold when it was captured (its created_at is when the hold was
-- placed, and other entries may come in between). Ordered this way, an entry's balance_after is
-- the wallet's balance from that instant on, so a balance at any instant is one index lookup.

CREATE FUNCTION txn_posted_at(p_created_at timestamptz, p_updated_at timestamptz,
                              p_hold_amount numeric) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_hold_amount IS NULL THEN p_created_at ELSE p_updated_at END
$$;

-- A wallet's entries in posting order: point-in-time balances (index-only: balance_after is in
-- the index), statements, and a manager's spend report over their team's wallets.
CREATE INDEX idx_transactions_wallet_posted
    ON transactions (wallet_id, txn_posted_at(created_at, updated_at, hold_amount))
    INCLUDE (balance_after, type, amount, reference_type)
    WHERE status = 'COMPLETED';

-- A company's entries in posting order: the spend report of a company (an index-only scan of one
-- month) and its most recent entries (the dashboard).
CREATE INDEX idx_transactions_company_posted
    ON transactions (company_id, txn_posted_at(created_at, updated_at, hold_amount))
    INCLUDE (wallet_id, type, amount, reference_type)
    WHERE status = 'COMPLETED';

-- The budget report of a company, by status.
CREATE INDEX idx_budgets_company_status ON budgets (company_id, status);
