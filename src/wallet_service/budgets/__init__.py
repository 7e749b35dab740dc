"""Budgets: spending limits per period, enforced on every debit (see the SQL budget_consume)."""
