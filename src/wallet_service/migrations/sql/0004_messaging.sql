-- 0004: Event-driven integration: inbox, relay bookkeeping.
--
-- Consumed events take effect once however often they are delivered, guarded twice:
--   * by event id: processed_events remembers every applied event_id (and what it answered);
--   * by business key: booking_charges holds one row per (wallet, booking), so a booking is
--     debited once, and refunded at most once and never for more than was debited, whatever the
--     event ids of its deliveries. The CHECKs make a larger refund impossible.
-- The relay leases outbox rows (claimed_until, claim_token) so several relay instances do not
-- publish the same row in the normal case, without holding a row lock while waiting on the broker;
-- the token names the claim holding the lease, so a relay whose lease ran out cannot release rows
-- another relay has claimed since (events/pending.py).

CREATE TABLE processed_events (
    event_id      uuid PRIMARY KEY,
    event_type    varchar(100) NOT NULL,
    -- the `result` answered the first time, answered again to redeliveries
    result        jsonb,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_processed_events_at ON processed_events (processed_at);

CREATE TABLE booking_charges (
    company_id      uuid NOT NULL,
    wallet_id       uuid NOT NULL,
    booking_id      varchar(100) NOT NULL,
    -- DEBITED: the booking was paid; FAILED: it was refused (debit_txn_id is the FAILED entry);
    -- CANCELLED: its cancellation arrived before it (deliveries can overtake each other), so it
    -- must never be charged (no debit_txn_id, amount 0)
    status          varchar(20) NOT NULL,
    amount          numeric(15,2) NOT NULL,
    currency        varchar(3),
    debit_txn_id    uuid REFERENCES transactions (txn_id),
    refunded        numeric(15,2) NOT NULL DEFAULT 0,
    refund_txn_id   uuid REFERENCES transactions (txn_id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wallet_id, booking_id),
    CONSTRAINT booking_charges_wallet_fk FOREIGN KEY (company_id, wallet_id)
        REFERENCES wallets (company_id, wallet_id),
    CONSTRAINT booking_charges_status CHECK (status IN ('DEBITED', 'FAILED', 'CANCELLED')),
    CONSTRAINT booking_decided_by_entry CHECK ((status = 'CANCELLED') = (debit_txn_id IS NULL)),
    CONSTRAINT booking_refund_within_debit CHECK (refunded >= 0 AND refunded <= amount),
    CONSTRAINT booking_refund_once CHECK ((refund_txn_id IS NULL) = (refunded = 0)),
    CONSTRAINT booking_failed_not_refunded CHECK (status = 'DEBITED' OR refunded = 0)
);

ALTER TABLE outbox ADD COLUMN claimed_until timestamptz, ADD COLUMN claim_token uuid;

-- the relay asks "is an earlier row of this wallet unpublished and leased?" per candidate
CREATE INDEX idx_outbox_unpublished_wallet ON outbox (wallet_id, seq) WHERE published_at IS NULL;
