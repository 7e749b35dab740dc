-- 0001 foundation: users, wallets, the ledger, budgets, idempotency, outbox, company defaults.
--
-- Every tenant-owned table carries company_id and references its parent through
-- (company_id, id), so a row can never point at another company's data, and the tables can later
-- be distributed by company_id (Citus) with every write staying inside one company.
--
-- The money rules live here as well as in Python: CHECK constraints make a negative balance, a hold
-- larger than the balance, a closed wallet with money in it, or two overlapping ACTIVE budgets of one
-- period type impossible. The functions and triggers that use these tables live in
-- src/wallet_service/sql/ and are applied on every migrate (db/sqlobjects.py).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE users (
    user_id     uuid PRIMARY KEY,
    company_id  uuid NOT NULL,
    email       text,
    role        varchar(20) NOT NULL DEFAULT 'USER',
    manager_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_company_user_key UNIQUE (company_id, user_id),
    CONSTRAINT users_valid_role CHECK (role IN ('USER', 'MANAGER', 'ADMIN', 'SYSTEM')),
    CONSTRAINT users_not_own_manager CHECK (manager_id IS DISTINCT FROM user_id)
);
CREATE INDEX idx_users_team ON users (company_id, manager_id);

CREATE TABLE company_defaults (
    company_id          uuid PRIMARY KEY,
    auto_create_wallet  boolean NOT NULL DEFAULT true,
    currency            varchar(3) NOT NULL DEFAULT 'USD',
    initial_balance     numeric(15,2) NOT NULL DEFAULT 0,
    budgets             jsonb NOT NULL DEFAULT '[]',
    updated_by          uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT company_defaults_valid_currency CHECK (currency IN ('USD', 'EUR', 'INR', 'GBP')),
    CONSTRAINT company_defaults_initial_balance CHECK (initial_balance >= 0),
    CONSTRAINT company_defaults_budgets_array CHECK (jsonb_typeof(budgets) = 'array')
);

CREATE TABLE wallets (
    wallet_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id    uuid NOT NULL,
    user_id       uuid NOT NULL,
    balance       numeric(15,2) NOT NULL DEFAULT 0,
    -- sum of open holds (PENDING debits); available_balance = balance - held_amount
    held_amount   numeric(15,2) NOT NULL DEFAULT 0,
    currency      varchar(3) NOT NULL DEFAULT 'USD',
    status        varchar(20) NOT NULL DEFAULT 'ACTIVE',
    -- bumped by every change; events carry it so consumers can order them per wallet
    version       bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_company_wallet_key UNIQUE (company_id, wallet_id),
    CONSTRAINT wallets_user_fk FOREIGN KEY (company_id, user_id)
        REFERENCES users (company_id, user_id),
    CONSTRAINT positive_balance CHECK (balance >= 0),
    CONSTRAINT holds_within_balance CHECK (held_amount >= 0 AND held_amount <= balance),
    CONSTRAINT valid_status CHECK (status IN ('ACTIVE', 'FROZEN', 'CLOSED')),
    CONSTRAINT valid_currency CHECK (currency IN ('USD', 'EUR', 'INR', 'GBP')),
    CONSTRAINT closed_is_empty CHECK (status <> 'CLOSED' OR (balance = 0 AND held_amount = 0))
);
CREATE UNIQUE INDEX idx_wallets_user_id ON wallets (user_id);
CREATE INDEX idx_wallets_company_status ON wallets (company_id, status, created_at);

CREATE TABLE transactions (
    txn_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id      uuid NOT NULL,
    wallet_id       uuid NOT NULL,
    -- always positive: the type says which way the money moves
    amount          numeric(15,2) NOT NULL,
    type            varchar(20) NOT NULL,
    description     text,
    reference_id    varchar(100),
    reference_type  varchar(50),
    status          varchar(20) NOT NULL DEFAULT 'PENDING',
    metadata        jsonb,
    balance_after   numeric(15,2),
    -- links the two legs of a transfer
    transfer_id     uuid,
    -- holds: what was reserved, and when an open hold lapses
    hold_amount     numeric(15,2),
    expires_at      timestamptz,
    -- why a FAILED transaction was refused (an error code of the contract)
    failure_code    varchar(40),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_wallet_fk FOREIGN KEY (company_id, wallet_id)
        REFERENCES wallets (company_id, wallet_id),
    CONSTRAINT positive_amount CHECK (amount > 0),
    CONSTRAINT valid_type CHECK (type IN ('CREDIT', 'DEBIT', 'TRANSFER_IN', 'TRANSFER_OUT')),
    CONSTRAINT valid_status CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    CONSTRAINT completed_has_balance CHECK (status <> 'COMPLETED' OR balance_after IS NOT NULL),
    CONSTRAINT failed_has_code CHECK (status <> 'FAILED' OR failure_code IS NOT NULL)
);
CREATE INDEX idx_transactions_wallet_created ON transactions (wallet_id, created_at DESC, txn_id);
CREATE INDEX idx_transactions_reference ON transactions (reference_id, reference_type);
CREATE INDEX idx_transactions_open_holds ON transactions (expires_at) WHERE status = 'PENDING';
CREATE INDEX idx_transactions_transfer ON transactions (transfer_id) WHERE transfer_id IS NOT NULL;

CREATE TABLE budgets (
    budget_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id          uuid NOT NULL,
    wallet_id           uuid NOT NULL,
    total_amount        numeric(15,2) NOT NULL,
    used_amount         numeric(15,2) NOT NULL DEFAULT 0,
    -- reserved by open holds; counts against HARD budgets like usage
    reserved_amount     numeric(15,2) NOT NULL DEFAULT 0,
    remaining_amount    numeric(15,2) GENERATED ALWAYS AS (total_amount - used_amount) STORED,
    period_type         varchar(20) NOT NULL DEFAULT 'MONTHLY',
    start_date          date NOT NULL,
    end_date            date NOT NULL,
    status              varchar(20) NOT NULL DEFAULT 'ACTIVE',
    enforcement         varchar(10) NOT NULL DEFAULT 'HARD',
    alert_thresholds    integer[] NOT NULL DEFAULT '{80,100}',
    -- thresholds already announced by a BudgetExceeded event; re-armed when usage falls back below
    alerted_thresholds  integer[] NOT NULL DEFAULT '{}',
    auto_renew          boolean NOT NULL DEFAULT false,
    renewed_from        uuid REFERENCES budgets (budget_id),
    created_by          uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budgets_company_budget_key UNIQUE (company_id, budget_id),
    CONSTRAINT budgets_wallet_fk FOREIGN KEY (company_id, wallet_id)
        REFERENCES wallets (company_id, wallet_id),
    CONSTRAINT positive_amounts CHECK (total_amount > 0 AND used_amount >= 0 AND reserved_amount >= 0),
    CONSTRAINT valid_period CHECK (end_date >= start_date),
    CONSTRAINT valid_period_type CHECK (period_type IN ('WEEKLY', 'MONTHLY', 'QUARTERLY', 'YEARLY')),
    CONSTRAINT valid_budget_status CHECK (status IN ('ACTIVE', 'EXPIRED', 'SUSPENDED')),
    CONSTRAINT valid_enforcement CHECK (enforcement IN ('HARD', 'SOFT')),
    CONSTRAINT valid_thresholds CHECK (
        cardinality(alert_thresholds) <= 10 AND 0 < ALL (alert_thresholds) AND 1000 >= ALL (alert_thresholds)),
    -- one ACTIVE budget per wallet and period type for any day
    CONSTRAINT budgets_no_overlap EXCLUDE USING gist (
        wallet_id WITH =, period_type WITH =, daterange(start_date, end_date, '[]') WITH &&
    ) WHERE (status = 'ACTIVE')
);
CREATE INDEX idx_budgets_wallet_active ON budgets (wallet_id, start_date, end_date) WHERE status = 'ACTIVE';
CREATE INDEX idx_budgets_active_end ON budgets (end_date) WHERE status = 'ACTIVE';

-- Which budgets a debit (or hold) counted against, and how much; refunds write negative rows, so a
-- refund gives back exactly what its booking used, to those budgets.
CREATE TABLE budget_usages (
    txn_id      uuid NOT NULL REFERENCES transactions (txn_id),
    budget_id   uuid NOT NULL REFERENCES budgets (budget_id),
    company_id  uuid NOT NULL,
    amount      numeric(15,2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (txn_id, budget_id),
    CONSTRAINT non_zero_usage CHECK (amount <> 0)
);
CREATE INDEX idx_budget_usages_budget ON budget_usages (budget_id);

CREATE TABLE budget_history (
    history_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    company_id     uuid NOT NULL,
    budget_id      uuid NOT NULL REFERENCES budgets (budget_id),
    old_amount     numeric(15,2),
    new_amount     numeric(15,2),
    old_status     varchar(20),
    new_status     varchar(20),
    change_reason  text,
    changed_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_budget_history_budget ON budget_history (budget_id, created_at);

-- Idempotency keys are scoped to the caller (the token's sub) and kept at least 24 hours.
CREATE TABLE idempotency_keys (
    caller        text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
CREATE INDEX idx_idempotency_created ON idempotency_keys (created_at);

-- Transactional outbox. txid lets readers page without gaps: a row is served only once every
-- transaction that could still add a row before it has ended (see events/outbox.py).
CREATE TABLE outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    company_id      uuid,
    wallet_id       uuid,
    wallet_version  bigint,
    event_type      varchar(50) NOT NULL,
    data            jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX idx_outbox_feed ON outbox (txid, seq);
CREATE INDEX idx_outbox_company_feed ON outbox (company_id, txid, seq);
CREATE INDEX idx_outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
