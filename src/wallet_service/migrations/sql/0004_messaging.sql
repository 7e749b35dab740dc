-- 0004: Event-driven integration: inbox, relay bookkeeping (issue 4).
SELECT 1;
