-- 0005: the functions, triggers and views of src/wallet_service/sql/ are applied after the
-- revisions on every migrate (db/sqlobjects.py). This one-row table holds the digest of the files
-- last applied, so a migrate with unchanged files does nothing.

CREATE TABLE sql_objects (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    digest      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
