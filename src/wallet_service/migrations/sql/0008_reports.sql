-- Statements and reports: the indexes they read; nothing here changes how money moves.
--
-- Reports date and order COMPLETED entries by when their money moved: txn_posted_at() in
-- sql/reports.sql, which PostgreSQL inlines into the CASE below. The indexes are built on that
-- CASE itself (an index on the function would block re-applying sql/), so the two must stay the
-- same expression; tests/test_report_indexes.py checks that the report queries use these indexes.

-- (The columns of the CASE are included too: PostgreSQL reads a query from the index alone only
-- when every column the query names is in it.)

-- A wallet's entries in posting order: point-in-time balances and statement totals (read from
-- the index alone), statements, and a manager's spend report over their team's wallets.
CREATE INDEX idx_transactions_wallet_posted
    ON transactions (wallet_id, (CASE WHEN hold_amount IS NULL THEN created_at ELSE updated_at END))
    INCLUDE (balance_after, type, amount, reference_type, created_at, updated_at, hold_amount)
    WHERE status = 'COMPLETED';

-- A company's entries in posting order: the spend report of a company (one month read from the
-- index alone) and its most recent entries (the dashboard).
CREATE INDEX idx_transactions_company_posted
    ON transactions (company_id, (CASE WHEN hold_amount IS NULL THEN created_at ELSE updated_at END))
    INCLUDE (wallet_id, type, amount, reference_type, created_at, updated_at, hold_amount)
    WHERE status = 'COMPLETED';

-- The budget report of a company, by status.
CREATE INDEX idx_budgets_company_status ON budgets (company_id, status);
