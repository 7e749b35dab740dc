"""RabbitMQ plumbing shared by the relay and the consumer: connect with exponential backoff
(tenacity), and keep a session running across broker outages by reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

log = logging.getLogger(__name__)

#: Errors meaning the broker is (for now) out of reach.
UNREACHABLE = (*CONNECTION_EXCEPTIONS, TimeoutError)


def _log_retry(state: object) -> None:
    outcome = getattr(state, "outcome", None)
    exc = outcome.exception() if outcome is not None else None
    log.warning("RabbitMQ not reachable (%s); retrying", exc)


async def connect(url: str, *, max_backoff_s: float = 5.0) -> AbstractConnection:
    """Connect, retrying for ever with exponential backoff (capped at max_backoff_s)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(UNREACHABLE),
        wait=wait_exponential_jitter(multiplier=0.2, max=max_backoff_s),
        before_sleep=_log_retry,
    ):
        with attempt:
            return await aio_pika.connect(url, timeout=5)
    raise AssertionError("unreachable")  # pragma: no cover


Session = Callable[[AbstractConnection], Awaitable[None]]


async def supervise(name: str, url: str, session: Session) -> None:
    """Run `session(connection)` until it returns (a requested stop). When it fails (the broker
    went away, or anything else), close the connection, reconnect with backoff and run it again.
    The backoff restarts after each successful connection."""
    while True:
        connection = await connect(url)
        try:
            await session(connection)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: session ended (%s: %s); reconnecting", name, type(exc).__name__, exc)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
        await asyncio.sleep(0.2)
