"""create_app(): the composition root. Wires settings, the database, auth, routers, middleware
and the one error handler that renders every error as application/problem+json."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from wallet_service import __version__, jobs
from wallet_service.auth.tokens import TokenVerifier
from wallet_service.budgets.router import router as budgets_router
from wallet_service.companies.router import router as companies_router
from wallet_service.config import Settings
from wallet_service.context import RequestId
from wallet_service.dashboard.router import router as dashboard_router
from wallet_service.db.migrate import BackgroundMigration
from wallet_service.db.pool import Database
from wallet_service.errors import PROBLEM, AppError, RateLimited, problem_document
from wallet_service.events.asyncapi_routes import router as asyncapi_router
from wallet_service.events.router import router as events_router
from wallet_service.events.worker import Messaging, attach_user_directory
from wallet_service.ledger.engine import Ledger
from wallet_service.ledger.hold_routes import router as holds_router
from wallet_service.ledger.router import router as ledger_router
from wallet_service.ledger.transfer_routes import router as transfers_router
from wallet_service.limits import BodyLimit
from wallet_service.openapi import document_problems, operation_id
from wallet_service.ops.metrics import RequestMetrics
from wallet_service.ops.ratelimit import RateLimiter
from wallet_service.ops.router import router as ops_router
from wallet_service.reports.router import router as reports_router
from wallet_service.wallets.router import router as wallets_router
from wallet_service.wire import BodyNotJson

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
_HTTP_TITLES = {413: "Payload too large"}


#: Every router of the API, in the order their routes are matched.
ROUTERS = (
    ops_router,
    wallets_router,
    ledger_router,
    transfers_router,
    holds_router,
    budgets_router,
    companies_router,
    events_router,
    reports_router,
    asyncapi_router,
    dashboard_router,
)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_document(status, code, title, detail, errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    response = problem(exc.status, exc.code, exc.title, exc.detail, exc.errors)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _clean_msg(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _error_msg(error: dict[str, Any]) -> str:
    msg = _clean_msg(str(error.get("msg", "")))
    if error.get("type") == "json_invalid" and (reason := error.get("ctx", {}).get("error")):
        msg = f"{msg}: {reason}"
    return msg


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": _error_msg(e)} for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem(422, "VALIDATION_ERROR", "Invalid request", summary or "invalid request", errors)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette names only the first route's)."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


async def _body_not_json(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyNotJson)
    detail = f"the body is not acceptable JSON: {exc.detail}"
    return problem(
        422, "VALIDATION_ERROR", "Invalid request", detail, [{"loc": ["body"], "msg": exc.detail}]
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    title = _HTTP_TITLES.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, code, title, str(exc.detail), headers=headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(
        500, "INTERNAL_ERROR", "Internal error", "an unexpected error occurred; it was logged"
    )


def create_app(settings: Settings, *, database_url: str | None = None) -> FastAPI:
    """Build the ASGI app. `database_url` defaults to settings.database_url; the pool opens on
    startup and closes on shutdown."""
    dsn = database_url or settings.database_url
    if not dsn:
        raise ValueError("create_app needs a database URL (the CLI starts the embedded one)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.connect(dsn, max_size=settings.db_pool_size)
        app.state.db = db
        ledger = Ledger(db, settings.group_commit_settings())
        ledger.start()
        app.state.ledger = ledger
        app.state.readiness_probes = {"database": db.ping}
        if app.state.rate_limiter.shared:
            app.state.readiness_probes["cache"] = app.state.rate_limiter.ping
        directory = attach_user_directory(db, settings)
        messaging = Messaging(ledger, settings.amqp_url) if settings.amqp_url else None
        if messaging is not None:
            app.state.readiness_probes["broker"] = messaging.probe
        tasks: list[asyncio.Task[None]] = []

        def start_background_work() -> None:
            tasks.extend(jobs.start(db, jobs.registry()) if settings.run_jobs else [])
            if messaging is not None:
                messaging.start()

        # The schema is migrated before the first request when the database answers; when it
        # does not, the service starts anyway (/health answers, /ready and every request say
        # 503 naming the database) and migrates as soon as it answers.
        migration = BackgroundMigration(dsn)
        migrating = asyncio.create_task(migration.run(), name="migrate")
        await migration.first_attempt.wait()
        if migration.done.is_set():
            start_background_work()
        else:
            db.refuse(
                "the database does not answer yet (or its schema is being migrated); "
                "nothing was changed, retry shortly"
            )

            async def open_when_migrated() -> None:
                await migration.done.wait()
                db.refuse(None)
                start_background_work()

            tasks.append(asyncio.create_task(open_when_migrated(), name="open-when-migrated"))
        try:
            yield
        finally:
            migrating.cancel()
            if messaging is not None and migration.done.is_set():
                await messaging.stop()
            if directory is not None:
                await directory.aclose()
            for task in tasks:
                task.cancel()
            await asyncio.gather(migrating, *tasks, return_exceptions=True)
            await ledger.close()
            await db.close()

    app = FastAPI(
        title="Wallet & Budget Service",
        version=__version__,
        description="Wallets, a ledger of credits and debits, budgets and events.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier.from_settings(settings)
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.redis_url)

    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BodyNotJson, _body_not_json)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestId)

    for router in ROUTERS:
        app.include_router(router)
    document_problems(app)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (used by `serve` when it runs several workers)."""
    return create_app(Settings.from_env())
