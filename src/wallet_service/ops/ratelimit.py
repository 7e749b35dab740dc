"""Per-subject rate limiting with the `limits` library: RATE_LIMIT like "100/second" or "off";
counters in Redis when REDIS_URL is set (shared by every instance), else in process."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from wallet_service.auth.caller import Caller
from wallet_service.errors import RateLimited


class RateLimiter:
    def __init__(self, rule: str, redis_url: str | None = None):
        self.item: RateLimitItem | None = (
            None if rule.lower() in ("", "off", "none") else parse(rule)
        )
        storage: Storage = MemoryStorage()
        if redis_url:
            shared = storage_from_string(f"async+{redis_url}", implementation="redispy")
            assert isinstance(shared, Storage)
            storage = shared
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, caller: Caller) -> None:
        if self.item is None:
            return
        key = caller.idempotency_scope
        if not await self._limiter.hit(self.item, key):
            stats = await self._limiter.get_window_stats(self.item, key)
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
            raise RateLimited(
                f"more than {self.item} requests; retry in {retry_after}s", retry_after=retry_after
            )
