"""Statements, point-in-time balances and reports (read-only views of the ledger and budgets)."""
