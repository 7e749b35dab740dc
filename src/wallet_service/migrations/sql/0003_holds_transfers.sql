-- 0003: Transfers and holds (their functions live in src/wallet_service/sql/ledger.sql).

-- Which HARD budgets an open hold reserved against, and how much, so that capture, void and expiry
-- give back exactly what was reserved, to those budgets, even if budgets changed in between.
-- A row lives while the hold is open and is deleted when the hold is settled.
CREATE TABLE hold_reservations (
    txn_id      uuid NOT NULL REFERENCES transactions (txn_id),
    budget_id   uuid NOT NULL REFERENCES budgets (budget_id),
    company_id  uuid NOT NULL,
    amount      numeric(15,2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txn_id, budget_id),
    CONSTRAINT positive_reservation CHECK (amount > 0)
);
CREATE INDEX idx_hold_reservations_budget ON hold_reservations (budget_id);

-- A hold is a DEBIT with a hold_amount; once captured, amount (what was taken) never exceeds it.
ALTER TABLE transactions ADD CONSTRAINT hold_amount_positive
    CHECK (hold_amount IS NULL OR (hold_amount > 0 AND type = 'DEBIT' AND amount <= hold_amount));
