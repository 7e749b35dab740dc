"""Per-subject rate limiting with the `limits` library: RATE_LIMIT like "100/second" or "off";
counters in Redis when REDIS_URL is set (shared by every instance), else in process."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.exceptions import RedisError

from wallet_service.auth.caller import Caller
from wallet_service.errors import RateLimited, ServiceUnavailable


class RateLimiter:
    def __init__(self, rule: str, redis_url: str | None = None):
        self.item: RateLimitItem | None = (
            None if rule.lower() in ("", "off", "none") else parse(rule)
        )
        storage: Storage = MemoryStorage()
        self.shared = redis_url is not None
        if redis_url:
            shared = storage_from_string(f"async+{redis_url}", implementation="redispy")
            assert isinstance(shared, Storage)
            storage = shared
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def ping(self) -> None:
        """Readiness probe of the shared (Redis) counters."""
        if not await self._storage.check():
            raise ServiceUnavailable("the cache (REDIS_URL) does not answer")

    async def hit(self, caller: Caller) -> None:
        if self.item is None:
            return
        key = caller.idempotency_scope
        try:
            allowed = await self._limiter.hit(self.item, key)
        except (OSError, RedisError):  # counters unreachable: refuse rather than lift the limit
            raise ServiceUnavailable("the rate-limit store (REDIS_URL) is unavailable") from None
        if not allowed:
            stats = await self._limiter.get_window_stats(self.item, key)
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
            raise RateLimited(
                f"more than {self.item} requests; retry in {retry_after}s", retry_after=retry_after
            )
