"""The database handle: an asyncpg pool (capped, 20 connections by default as in the LLD), one
way to open a transaction, and the translation of database errors into domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from wallet_service import errors

ACQUIRE_TIMEOUT_S = 10.0

#: Constraint names raised by PostgreSQL -> the domain error a client sees.
_CONSTRAINT_ERRORS: dict[str, type[errors.AppError]] = {
    "idx_wallets_user_id": errors.WalletExists,
    "budgets_no_overlap": errors.BudgetOverlap,
    "positive_balance": errors.InsufficientFunds,
    "holds_within_balance": errors.InsufficientFunds,
    "closed_is_empty": errors.WalletNotEmpty,
    "users_not_own_manager": errors.ValidationFailed,
}


#: Failures of the connection rather than of the request: the database is unreachable, refuses
#: connections (starting, shutting down, full, the database not created yet, credentials), or the
#: connection broke under the request (a terminated backend, a fast shutdown, a client left in a
#: state it cannot continue from: asyncpg's InternalClientError "cannot switch to state ...").
#: The transaction is rolled back with its connection; the client may retry.
_CONNECTION_FAILURES = (
    OSError,  # refused, reset, unreachable (ConnectionError and socket errors)
    TimeoutError,  # no connection within ACQUIRE_TIMEOUT_S, or command_timeout
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, ConnectionDoesNotExistError
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # ProtocolError, OutdatedSchemaCacheError
    asyncpg.OperatorInterventionError,  # class 57: admin/crash shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, out of memory
    asyncpg.InvalidCatalogNameError,  # the database does not exist (yet)
    asyncpg.InvalidAuthorizationSpecificationError,  # class 28: the service's credentials
)


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook. asyncpg's default runs a reset query (RESET ALL, UNLISTEN, advisory
    unlock) on every release: one more round trip per request. This service never leaves session
    state behind (no SET, LISTEN or session-level advisory locks; transactions are always closed
    by their context manager), so there is nothing to reset."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_json_dumps, decoder=orjson.loads, schema="pg_catalog"
    )
    await conn.set_type_codec(
        "json", encoder=_json_dumps, decoder=orjson.loads, schema="pg_catalog"
    )


def _data_error_detail(exc: asyncpg.DataError) -> str:
    """What a client should know about a value PostgreSQL (or asyncpg, before sending it) refused.
    asyncpg's own refusals have no server message; their reason ends their text, in parentheses
    after the value, which is not repeated (it may be large)."""
    said = f"{exc.message} {exc.detail}"
    if "0x00" in said or "\\u0000" in said:  # in text, or in text inside jsonb
        return "text cannot contain the NUL character (\\u0000); remove it"
    if exc.message:
        reason = exc.message + (f" ({exc.detail})" if exc.detail else "")
    else:
        text = str(exc)
        reason = text.rsplit(" (", 1)[-1].removesuffix(")") if text.endswith(")") else "invalid"
    return f"a value in the request cannot be stored: {reason}; check its type and range"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn errors raised by PostgreSQL into the contract's domain errors.

    Our SQL functions raise with MESSAGE = a contract error code and DETAIL = human text; constraint
    violations that a client can cause are mapped by constraint name; an unreachable database or a
    broken connection is a 503 (see _CONNECTION_FAILURES)."""
    try:
        yield
    except asyncpg.RaiseError as exc:
        cls = errors.BY_CODE.get(exc.message)
        if cls is None:
            raise
        raise cls(exc.detail or None) from None
    except asyncpg.IntegrityConstraintViolationError as exc:
        cls = _CONSTRAINT_ERRORS.get(getattr(exc, "constraint_name", None) or "")
        if cls is None:
            raise
        raise cls() from None
    except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
        raise errors.ConcurrencyConflict(
            "the request collided with a concurrent change and was rolled back; "
            "nothing was changed, retry it"
        ) from None
    except asyncpg.DataError as exc:
        raise errors.ValidationFailed(_data_error_detail(exc)) from None
    except _CONNECTION_FAILURES as exc:
        raise errors.ServiceUnavailable(
            f"the database is unavailable ({type(exc).__name__}); the request was rolled back, "
            "retry it (with the same Idempotency-Key it applies at most once)"
        ) from None


class Database:
    """The service's only door to PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self._refusal: str | None = None

    def refuse(self, reason: str | None) -> None:
        """While `reason` is set, every use of the database is answered 503 with it (the service
        is up but its schema is not migrated yet); None lets requests through again."""
        self._refusal = reason

    def _check_open(self) -> None:
        if self._refusal is not None:
            raise errors.ServiceUnavailable(self._refusal)

    @classmethod
    async def connect(cls, dsn: str, *, max_size: int = 20) -> Database:
        # min_size=0: the service starts even while the database is down, answers 503 and
        # reports it on /ready, and recovers by itself when the database is back.
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"timezone": "UTC", "application_name": "wallet-service"},
            command_timeout=30,
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One command, one database transaction: commits when the block ends normally, rolls
        back on any exception."""
        self._check_open()
        with translate_errors():
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
                yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in autocommit mode: each statement is its own transaction (reads, and
        the single-statement ledger functions)."""
        self._check_open()
        with translate_errors():
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A read-only transaction whose statements all see one snapshot (REPEATABLE READ), for
        reads that must agree with each other (a statement's totals and its entries)."""
        with translate_errors():
            async with (
                self.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield conn

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.fetchval("SELECT 1")
