"""The report queries date entries with txn_posted_at() (sql/reports.sql), which PostgreSQL
inlines into the CASE expression the indexes of migration 0008 are built on: if the two drift
apart, reports fall back to scanning the ledger. This checks that they still meet."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from wallet_service.reports.repository import POSTED


def plan(sql: psycopg.Connection[Any], query: str, *params: Any) -> str:
    """The plan PostgreSQL picks when the table is large (on the test's small table a sequential
    or bitmap scan is cheaper, so those are ruled out)."""
    sql.execute("SET enable_seqscan = off")
    sql.execute("SET enable_bitmapscan = off")
    try:
        return "\n".join(r[0] for r in sql.execute("EXPLAIN " + query, params).fetchall())
    finally:
        sql.execute("RESET enable_seqscan")
        sql.execute("RESET enable_bitmapscan")


def test_a_balance_at_an_instant_is_an_index_only_lookup(sql: psycopg.Connection[Any]) -> None:
    text = plan(
        sql,
        f"""SELECT t.balance_after FROM transactions t
            WHERE t.wallet_id = %s AND t.status = 'COMPLETED' AND {POSTED} < now()
            ORDER BY {POSTED} DESC LIMIT 2""",
        uuid.uuid4(),
    )
    assert "Index Only Scan Backward using idx_transactions_wallet_posted" in text, text
    assert "Sort" not in text


def test_a_company_month_is_an_index_range(sql: psycopg.Connection[Any]) -> None:
    text = plan(
        sql,
        f"""SELECT t.wallet_id, t.type, t.amount, t.reference_type FROM transactions t
            WHERE t.company_id = %s AND t.status = 'COMPLETED'
              AND {POSTED} >= now() - interval '1 month' AND {POSTED} < now()""",
        uuid.uuid4(),
    )
    assert "Index Only Scan using idx_transactions_company_posted" in text, text
