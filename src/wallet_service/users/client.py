"""The user-management service (LLD section 2), asked about users this service has not heard of.

`GET {USER_SERVICE_URL}/users/{id}` -> `{user_id, email, company_id, role, manager_id?}`; 404 means
the user does not exist. Each attempt has a timeout; transient failures (connection errors,
timeouts, 5xx) are retried with exponential backoff (tenacity); a circuit breaker (pybreaker) stops
calling a service that keeps failing, so callers fail fast with 503 SERVICE_UNAVAILABLE instead of
piling up on it. Nothing here writes to the database."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from uuid import UUID

import httpx
import pybreaker
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from wallet_service.auth.caller import Role
from wallet_service.db.pool import Database
from wallet_service.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class RemoteUser(BaseModel):
    """A user as the user-management service describes them."""

    user_id: UUID
    email: str | None = None
    company_id: UUID
    role: Role = Role.USER
    manager_id: UUID | None = None


class _Transient(Exception):
    """An attempt that may succeed if tried again (5xx, timeout, connection error)."""


@dataclass(frozen=True)
class Policy:
    """How hard to try: per-attempt timeout, attempts with exponential backoff, breaker limits."""

    timeout_s: float = 2.0
    attempts: int = 3
    backoff_s: float = 0.1
    backoff_max_s: float = 1.0
    breaker_fail_max: int = 5
    breaker_reset_s: float = 30.0


class UserDirectory:
    """Client of the user-management service."""

    def __init__(self, base_url: str, policy: Policy | None = None):
        self.policy = policy or Policy()
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=self.policy.timeout_s
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.policy.breaker_fail_max,
            reset_timeout=self.policy.breaker_reset_s,
            name="user-service",
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, user_id: UUID) -> RemoteUser | None:
        """The user, or None when the service says it does not exist (404). Raises
        ServiceUnavailable when the service cannot answer (down, slow, breaker open)."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Transient),
                stop=stop_after_attempt(self.policy.attempts),
                wait=wait_exponential(
                    multiplier=self.policy.backoff_s, max=self.policy.backoff_max_s
                ),
            ):
                with attempt:
                    return await self._attempt(user_id)
        except pybreaker.CircuitBreakerError:
            raise ServiceUnavailable(
                "the user service is failing (circuit open); nothing was changed, retry later"
            ) from None
        except RetryError as exc:
            log.warning("user service lookup of %s failed: %s", user_id, exc.last_attempt)
            raise ServiceUnavailable(
                "the user service did not answer; nothing was changed, retry later"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, user_id: UUID) -> RemoteUser | None:
        with self.breaker.calling():
            try:
                response = await self._client.get(f"/users/{user_id}")
            except httpx.HTTPError as exc:
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500:
                raise _Transient(f"HTTP {response.status_code}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"the user service answered HTTP {response.status_code}; nothing was changed"
            )
        try:
            user = RemoteUser.model_validate(response.json())
        except (ValueError, ValidationError):
            raise ServiceUnavailable(
                "the user service answered an unreadable user; nothing was changed"
            ) from None
        if user.user_id != user_id:
            raise ServiceUnavailable("the user service answered another user; nothing was changed")
        return user


#: The directory of each running app, keyed by its Database (so two apps in one process, as in
#: the tests, never share one). Absent when USER_SERVICE_URL is not set.
_DIRECTORIES: weakref.WeakKeyDictionary[Database, UserDirectory] = weakref.WeakKeyDictionary()


def attach(db: Database, directory: UserDirectory) -> None:
    _DIRECTORIES[db] = directory


def directory_for(db: Database) -> UserDirectory | None:
    return _DIRECTORIES.get(db)
