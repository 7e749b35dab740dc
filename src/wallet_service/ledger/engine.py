"""The posting engine's Python side. Every money movement is a posting (a dict in the shape the
SQL entry point `ledger_apply` reads, see sql/ledger.sql) and answers an Outcome. The Ledger sends
postings alone, as a batch, or gathered with other requests' postings by group commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service import errors
from wallet_service.auth.caller import Caller
from wallet_service.context import current_request_id
from wallet_service.db.pool import Database
from wallet_service.idempotency import Keyed
from wallet_service.ledger import repository
from wallet_service.ledger.group_commit import GroupCommit, GroupCommitSettings

Posting = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What one posting did: applied (status, body, replayed) or refused (code, detail). A dry
    run's outcome carries `preview` (balances and budgets after the posting) instead of a body."""

    ok: bool
    status: int
    body: Any = None
    replayed: bool = False
    code: str | None = None
    detail: str | None = None
    preview: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Outcome:
        if raw["ok"]:
            return cls(
                ok=True,
                status=int(raw["status"]),
                body=raw.get("body"),
                replayed=bool(raw.get("replayed", False)),
                preview=raw.get("preview"),
            )
        code = str(raw["code"])
        return cls(
            ok=False,
            status=errors.BY_CODE.get(code, errors.Conflict).status,
            code=code,
            detail=raw.get("detail"),
            preview=raw.get("preview"),
        )

    @classmethod
    def failed(cls, error: errors.AppError) -> Outcome:
        return cls(ok=False, status=error.status, code=error.code, detail=error.detail)

    def error(self) -> errors.AppError:
        """The domain error of a refused posting."""
        assert not self.ok and self.code is not None
        return errors.BY_CODE.get(self.code, errors.Conflict)(self.detail)

    def result(self) -> dict[str, Any]:
        """{"status", "body", "replayed"} of an applied posting; raises the refusal's error."""
        if not self.ok:
            raise self.error()
        return {"status": self.status, "body": self.body, "replayed": self.replayed}


def context(caller: Caller | None) -> dict[str, Any]:
    """The caller context every posting carries and every entry records: actor and request id."""
    ctx: dict[str, Any] = {"request_id": current_request_id()}
    if caller is not None:
        ctx["actor_sub"] = str(caller.sub)
        ctx["actor_role"] = caller.role.value
    return ctx


def posting(op: str, caller: Caller | None, idem: Keyed | None = None, **fields: Any) -> Posting:
    """A posting for `op` with its fields (None values left out), caller context and key."""
    p: Posting = {"op": op, **context(caller)}
    p.update((k, _wire(v)) for k, v in fields.items() if v is not None)
    if idem is not None:
        p["idem"] = {"caller": idem.caller, "key": idem.key, "hash": idem.fingerprint}
    return p


def _wire(value: Any) -> Any:
    """Values as the JSON the engine reads (Decimal and datetime are handled by the encoder)."""
    return str(value) if isinstance(value, UUID) else value


async def apply_in(
    conn: asyncpg.Connection,
    postings: list[Posting],
    *,
    ctx: dict[str, Any] | None = None,
    atomic: bool = False,
    dry_run: bool = False,
) -> list[Outcome]:
    """Apply postings on `conn`, inside whatever transaction the caller holds."""
    raw = await repository.apply(conn, postings, ctx or {}, atomic=atomic, dry_run=dry_run)
    return [Outcome.from_json(r) for r in raw]


class Ledger:
    """The one door to the posting engine. Single postings go through group commit (when
    enabled): concurrent requests are applied together, one database call and one commit for
    many, each request getting exactly its own outcome."""

    def __init__(self, db: Database, settings: GroupCommitSettings | None = None):
        self.db = db
        self._group = GroupCommit(self._send, settings) if settings and settings.enabled else None

    async def _send(self, postings: list[Posting]) -> list[Outcome]:
        async with self.db.connection() as conn:
            return await apply_in(conn, postings)

    async def post(self, p: Posting) -> Outcome:
        """Apply one posting (gathered with others when group commit is on)."""
        if self._group is not None:
            return await self._group.submit(p)
        return (await self._send([p]))[0]

    async def apply(
        self,
        postings: list[Posting],
        *,
        ctx: dict[str, Any] | None = None,
        atomic: bool = False,
        dry_run: bool = False,
    ) -> list[Outcome]:
        """Apply many postings in one database transaction (a batch, or a dry run)."""
        async with self.db.connection() as conn:
            return await apply_in(conn, postings, ctx=ctx, atomic=atomic, dry_run=dry_run)

    def start(self) -> None:
        if self._group is not None:
            self._group.start()

    async def close(self) -> None:
        """Answer postings still waiting for their group 503, let groups in flight finish."""
        if self._group is not None:
            await self._group.close()

    @property
    def group_commit(self) -> GroupCommit[Posting, Outcome] | None:
        return self._group
