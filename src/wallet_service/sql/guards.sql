-- Guards: rules the database enforces whoever writes to it.

-- Trigger function for append-only tables: refuses UPDATE and DELETE.
CREATE OR REPLACE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'APPEND_ONLY',
        DETAIL = format('%s is append-only: rows can be added, never changed or removed', TG_TABLE_NAME);
END $$;

-- budget_history is the audit trail of a budget's total and status: rows are added, never changed.
CREATE OR REPLACE TRIGGER budget_history_append_only BEFORE UPDATE OR DELETE ON budget_history
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
