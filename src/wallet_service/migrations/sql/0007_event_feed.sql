-- 0007: the event feed (GET /events) is ordered by feed_pos, a position each outbox row gets once
-- it has committed, from the sequencer in events/outbox.py (one at a time, under an advisory
-- lock, in the order rows became visible). Rows are written without one. The feed no longer
-- waits for the oldest transaction still running in the cluster (pg_snapshot_xmin over txid), so
-- an idle transaction anywhere on the server, in any database, no longer holds it back.

ALTER TABLE outbox ADD COLUMN feed_pos bigint;

-- Rows already committed keep the order the feed has served them in, (txid, seq); a row whose
-- transaction is still open now gets its position when it commits, after these.
UPDATE outbox SET feed_pos = numbered.pos
FROM (SELECT seq, row_number() OVER (ORDER BY txid, seq) AS pos FROM outbox) AS numbered
WHERE outbox.seq = numbered.seq;

-- Unique: positions are given once. NULLs (rows not sequenced yet) are what the sequencer looks
-- for, through the same index.
CREATE UNIQUE INDEX idx_outbox_feed_pos ON outbox (feed_pos);
CREATE INDEX idx_outbox_company_feed_pos ON outbox (company_id, feed_pos);

DROP INDEX idx_outbox_feed;
DROP INDEX idx_outbox_company_feed;
ALTER TABLE outbox DROP COLUMN txid;
