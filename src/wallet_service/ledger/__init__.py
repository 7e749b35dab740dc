"""The ledger: the only code that writes transactions and moves balances (through the posting
engine, ledger_apply in sql/ledger.sql), and the reading of transaction history."""
