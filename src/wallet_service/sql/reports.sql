-- Statements and reports: when an entry's money moved.

-- A posting moves money when it is written; a hold when it is captured (its created_at is when it
-- was placed, and other entries of the wallet may come in between). In this order an entry's
-- balance_after is the wallet's balance from that instant on, so a balance at any instant is one
-- index lookup. PostgreSQL inlines this function; the report indexes of migration 0007 are built
-- on the same CASE expression.
CREATE OR REPLACE FUNCTION txn_posted_at(p_created_at timestamptz, p_updated_at timestamptz,
                                         p_hold_amount numeric) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_hold_amount IS NULL THEN p_created_at ELSE p_updated_at END
$$;
