"""Group commit: concurrent single postings are gathered for at most a short window (or until a
group is full) and sent to the engine as one call, so many requests share one round trip, one
set of lock acquisitions and one commit (TigerBeetle's lesson: throughput comes from many
postings per commit, not from a faster single posting).

Guarantees, each tested:
* every request gets exactly its own outcome; a refused posting never fails its neighbours
  (the engine decides refusals by checking, not raising);
* a deadlock or serialization failure retries the whole group, unseen by clients;
* any other failure of a group (a constraint the engine's checks did not foresee) re-runs its
  postings one by one, so only the posting at fault fails;
* idempotency and per-wallet order are the engine's (keys and wallets locked in sorted order,
  postings applied in arrival order);
* backpressure: at most `max_pending` postings wait; more callers wait to enqueue;
* close() answers postings not yet sent 503 and lets groups in flight finish."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Counter, Histogram
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from wallet_service import errors

log = logging.getLogger(__name__)

P = TypeVar("P")
O = TypeVar("O")  # noqa: E741 - the outcome type

GROUP_SIZE = Histogram(
    "wallet_group_commit_size",
    "Postings sent to the engine per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
GROUP_RETRIES = Counter(
    "wallet_group_commit_retries_total", "Groups retried after a deadlock or serialization failure"
)
GROUP_SPLITS = Counter(
    "wallet_group_commit_splits_total", "Groups re-run posting by posting after a failure"
)


@dataclass(frozen=True)
class GroupCommitSettings:
    enabled: bool = True
    #: how long the first posting of a group waits for company (seconds)
    window_s: float = 0.001
    #: postings per engine call at most
    max_group: int = 256
    #: groups in flight at once (each holds one database connection)
    lanes: int = 4
    #: postings waiting at most; further callers wait to enqueue (backpressure)
    max_pending: int = 4096
    #: attempts of a group that lost a deadlock or serialization conflict
    attempts: int = 5


class GroupCommit(Generic[P, O]):
    def __init__(
        self,
        send: Callable[[list[P]], Awaitable[list[O]]],
        settings: GroupCommitSettings | None = None,
    ):
        self._send = send
        self.settings = settings or GroupCommitSettings()
        self._queue: deque[tuple[P, asyncio.Future[O]]] = deque()
        self._has_work = asyncio.Event()
        self._room = asyncio.Semaphore(self.settings.max_pending)
        self._lanes: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._lanes = [asyncio.create_task(self._lane()) for _ in range(self.settings.lanes)]

    async def submit(self, posting: P) -> O:
        """Apply `posting` with whatever else arrives meanwhile; returns its own outcome."""
        if self._closing or not self._lanes:
            raise errors.ServiceUnavailable("the service is shutting down; retry on another one")
        async with self._room:
            future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
            self._queue.append((posting, future))
            self._has_work.set()
            return await future

    async def close(self) -> None:
        self._closing = True
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(
                    errors.ServiceUnavailable("the service is shutting down; nothing was changed")
                )
        self._has_work.set()
        await asyncio.gather(*self._lanes, return_exceptions=True)
        self._lanes = []

    async def _lane(self) -> None:
        while not self._closing:
            await self._has_work.wait()
            if len(self._queue) < self.settings.max_group and self.settings.window_s > 0:
                await asyncio.sleep(self.settings.window_s)
            group = [
                self._queue.popleft() for _ in range(min(len(self._queue), self.settings.max_group))
            ]
            if not self._queue:
                self._has_work.clear()
            if group:
                await self._flush(group)

    async def _flush(self, group: list[tuple[P, asyncio.Future[O]]]) -> None:
        GROUP_SIZE.observe(len(group))
        try:
            outcomes = await self._send_retrying([p for p, _ in group])
        except errors.ServiceUnavailable as exc:
            _fail(group, exc)
        except Exception as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            GROUP_SPLITS.inc()
            log.warning(
                "group of %d failed (%s); applying its postings one by one", len(group), exc
            )
            for item in group:
                await self._flush([item])
        else:
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def _send_retrying(self, postings: list[P]) -> list[O]:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(errors.ConcurrencyConflict),
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_random_exponential(multiplier=0.002, max=0.05),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    GROUP_RETRIES.inc()
                return await self._send(postings)
        raise AssertionError("unreachable: tenacity reraises the last error")


def _fail(group: list[tuple[P, asyncio.Future[O]]], exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
