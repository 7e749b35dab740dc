-- 0001 foundation: users, wallets, the ledger, budgets, idempotency, outbox, company defaults.
--
-- Every tenant-owned table carries company_id and references its parent through
-- (company_id, id), so a row can never point at another company's data, and the tables can later
-- be distributed by company_id (Citus) with every write staying inside one company.
--
-- Row locks are taken FOR NO KEY UPDATE (the mode a plain UPDATE of non-key columns takes): the
-- foreign-key checks of inserts that reference a locked row (budget_usages, budget_history, a
-- renewed budget) take KEY SHARE, which does not conflict with it, so such inserts never queue
-- behind a posting or close a deadlock cycle with one.
--
-- The money rules live here as well as in Python: CHECK constraints make a negative balance, a hold
-- larger than the balance, a closed wallet with money in it, or two overlapping ACTIVE budgets of one
-- period type impossible; ledger_post() is the single place that moves a balance.

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

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'APPEND_ONLY',
        DETAIL = format('%s is append-only: rows can be added, never changed or removed', TG_TABLE_NAME);
END $$;
CREATE TRIGGER budget_history_append_only BEFORE UPDATE OR DELETE ON budget_history
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

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

-- ---------------------------------------------------------------------------------------------
-- Rendering: the one JSON shape of a transaction and of a wallet (amounts as 2-decimal strings).
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION txn_json(t transactions) RETURNS jsonb LANGUAGE sql STABLE AS $$
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

CREATE FUNCTION wallet_json(w wallets) RETURNS jsonb LANGUAGE sql STABLE AS $$
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

-- ---------------------------------------------------------------------------------------------
-- Outbox and idempotency primitives, shared by the SQL functions below and by Python.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION emit_event(p_company uuid, p_wallet uuid, p_wallet_version bigint,
                           p_type text, p_data jsonb) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO outbox (company_id, wallet_id, wallet_version, event_type, data)
    VALUES (p_company, p_wallet, p_wallet_version, p_type, p_data)
    RETURNING event_id
$$;

-- Claims an idempotency key for this transaction. Returns NULL when the key is new (the caller
-- goes on and later calls idem_store), or the stored {status, body} of the first request.
-- A concurrent request with the same key waits here until the first one commits or rolls back.
CREATE FUNCTION idem_claim(p_caller text, p_key text, p_hash text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r idempotency_keys;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO idempotency_keys (caller, key, request_hash)
    VALUES (p_caller, p_key, p_hash)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM idempotency_keys WHERE caller = p_caller AND key = p_key;
    IF r.request_hash <> p_hash THEN
        RAISE EXCEPTION USING MESSAGE = 'IDEMPOTENCY_KEY_REUSED',
            DETAIL = 'This Idempotency-Key was already used with a different request body; '
                     'use a new key for a new request.';
    END IF;
    RETURN jsonb_build_object('status', r.status_code, 'body', r.response);
END $$;

CREATE FUNCTION idem_store(p_caller text, p_key text, p_status integer, p_body jsonb) RETURNS void
LANGUAGE sql AS $$
    UPDATE idempotency_keys SET status_code = p_status, response = p_body
    WHERE caller = p_caller AND key = p_key
$$;

-- Ends a command that claimed p_key: stores its answer for retries (when there is a key) and
-- returns it as {"status", "body", "replayed": false}, the shape every ledger function returns.
CREATE FUNCTION idem_finish(p_caller text, p_key text, p_status integer, p_body jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NOT NULL THEN
        PERFORM idem_store(p_caller, p_key, p_status, p_body);
    END IF;
    RETURN jsonb_build_object('status', p_status, 'body', p_body, 'replayed', false);
END $$;

-- The TransactionCompleted event of entry t on wallet w (w as it is after the entry), in the same
-- shape as ledger_post's, plus transfer_id for the legs of a transfer.
CREATE FUNCTION emit_transaction_completed(w wallets, t transactions) RETURNS uuid
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

-- Budgets on the posting path: budget_consume (on a DEBIT) and budget_release (on a *_REFUND
-- CREDIT) are defined with the budget rules in 0002_budgets.sql; ledger_post calls them.

-- Refuses an amount that is not positive with at most 2 decimals (Python validates first; this
-- keeps the SQL functions safe to call directly).
CREATE FUNCTION check_amount(p_amount numeric, p_name text DEFAULT 'amount') RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 2) THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR',
            DETAIL = format('%s must be greater than 0 with at most 2 decimals', p_name);
    END IF;
END $$;

-- ---------------------------------------------------------------------------------------------
-- The posting function: the only code that moves a wallet balance for a CREDIT or a DEBIT.
-- One call is one statement, so the wallet row is locked only while PostgreSQL runs it: checks,
-- entry, balance, budget usage, outbox rows and the idempotency record in one round trip.
-- Errors are raised with MESSAGE = the contract's error code and DETAIL = human text.
-- Returns {"status": 201, "body": <transaction>, "replayed": bool}.
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION ledger_post(
    p_wallet_id uuid,
    p_type text,
    p_amount numeric,
    p_description text DEFAULT NULL,
    p_reference_id text DEFAULT NULL,
    p_reference_type text DEFAULT NULL,
    p_metadata jsonb DEFAULT NULL,
    p_company_id uuid DEFAULT NULL,      -- when set, the wallet must belong to this company
    p_idem_caller text DEFAULT NULL,
    p_idem_key text DEFAULT NULL,
    p_idem_hash text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_prior jsonb;
    w wallets;
    t transactions;
    v_body jsonb;
BEGIN
    IF p_type NOT IN ('CREDIT', 'DEBIT') THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR', DETAIL = 'type must be CREDIT or DEBIT';
    END IF;
    PERFORM check_amount(p_amount);

    v_prior := idem_claim(p_idem_caller, p_idem_key, p_idem_hash);
    IF v_prior IS NOT NULL THEN
        RETURN v_prior || '{"replayed": true}';
    END IF;

    IF p_type = 'DEBIT' THEN
        UPDATE wallets
        SET balance = balance - p_amount, version = version + 1, updated_at = now()
        WHERE wallet_id = p_wallet_id
          AND (p_company_id IS NULL OR company_id = p_company_id)
          AND status = 'ACTIVE'
          AND balance - held_amount >= p_amount
        RETURNING * INTO w;
    ELSE
        UPDATE wallets
        SET balance = balance + p_amount, version = version + 1, updated_at = now()
        WHERE wallet_id = p_wallet_id
          AND (p_company_id IS NULL OR company_id = p_company_id)
          AND status IN ('ACTIVE', 'FROZEN')
        RETURNING * INTO w;
    END IF;

    IF NOT FOUND THEN
        SELECT * INTO w FROM wallets
        WHERE wallet_id = p_wallet_id AND (p_company_id IS NULL OR company_id = p_company_id);
        IF NOT FOUND THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_FOUND',
                DETAIL = format('No wallet %s.', p_wallet_id);
        ELSIF w.status = 'CLOSED' OR (p_type = 'DEBIT' AND w.status <> 'ACTIVE') THEN
            RAISE EXCEPTION USING MESSAGE = 'WALLET_NOT_ACTIVE',
                DETAIL = format('Wallet %s is %s and cannot take a %s.', p_wallet_id, w.status, p_type);
        ELSIF p_type = 'DEBIT' THEN
            RAISE EXCEPTION USING MESSAGE = 'INSUFFICIENT_FUNDS',
                DETAIL = format('Available balance is %s %s; the debit needs %s.',
                                w.balance - w.held_amount, w.currency, p_amount);
        ELSE
            -- only reachable when the amount would overflow NUMERIC(15,2)
            RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR', DETAIL = 'amount is too large';
        END IF;
    END IF;

    INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                              reference_type, status, metadata, balance_after)
    VALUES (w.company_id, w.wallet_id, p_amount, p_type, p_description, p_reference_id,
            p_reference_type, 'COMPLETED', p_metadata, w.balance)
    RETURNING * INTO t;

    IF p_type = 'DEBIT' THEN
        PERFORM budget_consume(t.txn_id, w, p_amount, (now() AT TIME ZONE 'UTC')::date);
    ELSIF p_reference_type IS NOT NULL AND p_reference_id IS NOT NULL
          AND p_reference_type LIKE '%\_REFUND' THEN
        PERFORM budget_release(t.txn_id, w.wallet_id, left(p_reference_type, -7), p_reference_id,
                               p_amount);
    END IF;

    PERFORM emit_transaction_completed(w, t);

    v_body := txn_json(t);
    RETURN idem_finish(p_idem_caller, p_idem_key, 201, v_body);
END $$;
