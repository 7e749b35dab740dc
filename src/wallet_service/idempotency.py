"""Idempotency-Key support for commands written in Python. (The ledger's SQL functions use the
same idem_claim/idem_store primitives inside their single statement.)

A key is scoped to the caller (Caller.idempotency_scope) and kept at least 24 hours. The first
request claims the key inside its own transaction; a concurrent retry waits on that row and then
replays the stored answer. Commands check the caller's role and scope before they claim: a stored
answer is replayed only to a caller who may still do what it did."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from wallet_service.auth.caller import Caller

#: Keys older than this may be purged.
RETENTION_HOURS = 24


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def request_hash(method: str, path: str, body: Any) -> str:
    """A fingerprint of the request: same method, path and (canonical) JSON body -> same hash."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


@dataclass(frozen=True)
class Keyed:
    """An Idempotency-Key as the ledger's SQL functions take it: the caller's scope, the key and
    the request's fingerprint."""

    caller: str
    key: str
    fingerprint: str


def keyed(caller: Caller, key: str | None, method: str, path: str, body: Any) -> Keyed | None:
    """The request's Keyed, or None when it carries no Idempotency-Key."""
    if key is None:
        return None
    return Keyed(caller.idempotency_scope, key, request_hash(method, path, body))


def sql_args(idem: Keyed | None) -> tuple[str | None, str | None, str | None]:
    """(caller, key, fingerprint) for the p_idem_* parameters of a ledger SQL function."""
    return (idem.caller, idem.key, idem.fingerprint) if idem else (None, None, None)


async def claim(conn: asyncpg.Connection, idem: Keyed | None) -> StoredResponse | None:
    """Claim the key for this transaction, or return the first request's stored answer.
    Raises IdempotencyKeyReused when the key was used with another body."""
    if idem is None:
        return None
    prior = await conn.fetchval("SELECT idem_claim($1, $2, $3)", *sql_args(idem))
    if prior is None:
        return None
    return StoredResponse(status=prior["status"], body=prior["body"])


async def remember(conn: asyncpg.Connection, idem: Keyed | None, status: int, body: Any) -> None:
    """Store the answer of a claimed key, in the same transaction as the command's effects."""
    if idem is not None:
        await conn.execute("SELECT idem_store($1, $2, $3, $4)", idem.caller, idem.key, status, body)


async def purge_expired(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete keys older than the retention period as of `now`; returns how many."""
    result: str = await conn.execute(
        "DELETE FROM idempotency_keys"
        " WHERE created_at < $1::timestamptz - make_interval(hours => $2)",
        now,
        RETENTION_HOURS,
    )
    return int(result.split()[-1])
