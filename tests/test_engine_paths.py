"""The engine's two ways of applying CREDITs and DEBITs write the same thing: the set-based path
(one statement per table, for calls that cannot be refused) and the posting-by-posting path
(ledger_entry) leave identical entries, balances, versions and events."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.support import Company


def _apply(sql: psycopg.Connection[Any], postings: list[dict[str, Any]]) -> tuple[Any, int]:
    """Call the engine; returns its outcomes and how many times it ran ledger_entry."""
    with sql.transaction():
        sql.execute("SET LOCAL track_functions = 'pl'")
        outcomes = sql.execute("SELECT ledger_apply(%s)", (Jsonb(postings),)).fetchone()
        calls = sql.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
            " WHERE funcname = 'ledger_entry'"
        ).fetchone()
    assert outcomes is not None and calls is not None
    return outcomes[0], int(calls[0])


def _written(sql: psycopg.Connection[Any], wallet_ids: list[str]) -> list[Any]:
    """What the postings left, with ids and clocks left out."""
    wallets = sql.execute(
        "SELECT balance, held_amount, version FROM wallets WHERE wallet_id = ANY(%s::uuid[])"
        " ORDER BY array_position(%s::uuid[], wallet_id)",
        (wallet_ids, wallet_ids),
    ).fetchall()
    entries = sql.execute(
        """SELECT array_position(%s::uuid[], wallet_id), amount, type, description, reference_id,
                  reference_type, status, metadata, balance_after, actor_role, request_id
           FROM transactions WHERE wallet_id = ANY(%s::uuid[]) AND reference_id LIKE 'P-%%'
           ORDER BY created_at, array_position(%s::uuid[], wallet_id)""",
        (wallet_ids, wallet_ids, wallet_ids),
    ).fetchall()
    events = sql.execute(
        """SELECT array_position(%s::uuid[], wallet_id), wallet_version, event_type,
                  data - 'txn_id' - 'wallet_id' - 'user_id'
           FROM outbox WHERE wallet_id = ANY(%s::uuid[]) AND data->>'reference_id' LIKE 'P-%%'
           ORDER BY seq""",
        (wallet_ids, wallet_ids),
    ).fetchall()
    return [wallets, entries, events]


def _postings(a: str, b: str) -> list[dict[str, Any]]:
    common = {"actor_role": "SYSTEM", "request_id": "req-paths"}
    return [
        {"op": "DEBIT", "wallet_id": a, "amount": "30.00", "reference_id": "P-1", **common},
        {"op": "CREDIT", "wallet_id": b, "amount": "5.50", "reference_id": "P-2", **common},
        {"op": "DEBIT", "wallet_id": a, "amount": "70.00", "reference_id": "P-3", **common},
        {
            "op": "CREDIT",
            "wallet_id": a,
            "amount": "0.01",
            "reference_id": "P-4",
            "reference_type": "BOOKING",
            "description": "change",
            "metadata": {"n": 1},
            **common,
        },
        {"op": "DEBIT", "wallet_id": b, "amount": "105.50", "reference_id": "P-5", **common},
    ]


def test_the_set_path_writes_what_the_posting_path_writes(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    first = [company.member(balance="100.00").wallet_id for _ in range(2)]
    second = [company.member(balance="100.00").wallet_id for _ in range(2)]
    poor = company.member(balance="1.00").wallet_id

    set_outcomes, set_entries = _apply(sql, _postings(*first))
    # the same postings, plus one that will be refused: the call goes posting by posting
    refused = {"op": "DEBIT", "wallet_id": poor, "amount": "2.00", "reference_id": "P-6"}
    loop_outcomes, loop_entries = _apply(sql, [*_postings(*second), refused])

    assert set_entries == 0, "the first call took the set-based path"
    assert loop_entries == 6, "the second went posting by posting"
    assert [o["ok"] for o in set_outcomes] == [True] * 5
    assert [o["ok"] for o in loop_outcomes] == [True] * 5 + [False]
    strip = ("txn_id", "wallet_id", "created_at", "updated_at")
    assert [{k: v for k, v in o["body"].items() if k not in strip} for o in set_outcomes] == [
        {k: v for k, v in o["body"].items() if k not in strip} for o in loop_outcomes[:5]
    ]
    assert _written(sql, first) == _written(sql, second)
    balances = sql.execute(
        "SELECT balance FROM wallets WHERE wallet_id = ANY(%s::uuid[])", (first,)
    ).fetchall()
    assert sorted(str(b[0]) for b in balances) == ["0.00", "0.01"]
