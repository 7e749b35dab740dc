"""Budgets: no schema change (the budget tables are in 0001; their functions in sql/budgets.sql)."""

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Nothing to do: kept so the revision chain of existing databases stays unbroken."""
