-- Every ledger entry names who caused it and in which request (the posting's caller context).
ALTER TABLE transactions
    ADD COLUMN actor_sub uuid,
    ADD COLUMN actor_role varchar(10),
    ADD COLUMN request_id varchar(100);
