"""FastAPI dependencies, collected in one place: the database, the authenticated caller, the
Idempotency-Key header. Routers use these aliases; services take plain arguments."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wallet_service.auth.caller import Caller
from wallet_service.db.pool import Database
from wallet_service.errors import Unauthenticated
from wallet_service.ledger.engine import Ledger

_bearer = HTTPBearer(auto_error=False, description="A JWT signed with the service's key.")


async def get_db(request: Request) -> Database:  # async: sync dependencies cost a thread hop
    db: Database = request.app.state.db
    return db


async def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Verify the bearer token, then apply the per-subject rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send 'Authorization: Bearer <JWT>'")
    caller: Caller = request.app.state.verifier.verify(credentials.credentials)
    await request.app.state.rate_limiter.hit(caller)
    return caller


DbDep = Annotated[Database, Depends(get_db)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
CallerDep = Annotated[Caller, Depends(get_caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body apply once and replay the first answer.",
    ),
]
