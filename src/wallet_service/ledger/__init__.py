"""The ledger: the only code that writes transactions and moves balances (through the SQL
function ledger_post and its siblings), and the reading of transaction history."""
