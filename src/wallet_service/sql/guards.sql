-- Guards: rules the database enforces whoever calls it (Python validates first and gives the
-- better error; these keep the SQL functions and the tables safe when called directly).

-- Refuses an amount that is not positive with at most 2 decimals.
CREATE OR REPLACE FUNCTION check_amount(p_amount numeric, p_name text DEFAULT 'amount') RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 2) THEN
        RAISE EXCEPTION USING MESSAGE = 'VALIDATION_ERROR',
            DETAIL = format('%s must be greater than 0 with at most 2 decimals', p_name);
    END IF;
END $$;

-- Trigger function for append-only tables: refuses UPDATE and DELETE.
CREATE OR REPLACE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'APPEND_ONLY',
        DETAIL = format('%s is append-only: rows can be added, never changed or removed', TG_TABLE_NAME);
END $$;

-- budget_history is the audit trail of a budget's total and status: rows are added, never changed.
CREATE OR REPLACE TRIGGER budget_history_append_only BEFORE UPDATE OR DELETE ON budget_history
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
