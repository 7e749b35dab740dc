"""RabbitMQ plumbing shared by the relay and the consumer: keep a session running across broker
(or database) outages by reconnecting with exponential backoff (tenacity)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractConnection
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

log = logging.getLogger(__name__)

Session = Callable[[AbstractConnection], Awaitable[None]]


def _log_retry(name: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s: RabbitMQ session ended (%s: %s); reconnecting in %.1fs",
            name,
            type(exc).__name__,
            exc,
            wait,
        )

    return before_sleep


async def supervise(
    name: str, url: str, session: Session, stopping: asyncio.Event, *, max_backoff_s: float = 5.0
) -> None:
    """Connect and run `session(connection)` until it returns (a requested stop). When connecting
    or the session fails (the broker went away, the database is down, ...), close the connection
    and try again after an exponentially growing pause (capped at max_backoff_s), until `stopping`
    is set. Cancellation is not retried."""

    async def pause(seconds: float) -> None:  # a stop request cuts the pause short
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential_jitter(multiplier=0.2, max=max_backoff_s, jitter=0.2),
        before_sleep=_log_retry(name),
        sleep=pause,
    ):
        with attempt:
            if stopping.is_set():
                return
            connection = await aio_pika.connect(url, timeout=5)
            try:
                await session(connection)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()
