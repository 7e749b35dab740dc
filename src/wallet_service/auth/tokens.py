"""JWT verification (HS256 with JWT_SECRET, or RS256/ES256 with JWT_PUBLIC_KEY) and, for the
embedded default, a generated dev secret and a token printer.

A client sends the same token on every request until it expires, so each process keeps the
callers of the tokens it verified (bounded, least recently used first out): a repeated token
costs a dictionary look-up instead of a signature check. An entry lapses at the token's `exp`;
only tokens that verified are kept."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cachetools import TLRUCache

from wallet_service.auth.caller import Caller, Role
from wallet_service.config import Settings
from wallet_service.errors import Unauthenticated

DEV_SECRET_FILE = "jwt-dev-secret"  # noqa: S105 - a file name, not a secret
REQUIRED_CLAIMS = ["sub", "role", "exp"]
#: Seconds of clock skew tolerated on `exp` (and `nbf`, `iat`).
LEEWAY_S = 5
#: Verified tokens kept per process (a few hundred bytes each).
CACHE_SIZE = 10_000


def _lapses_at(_token: str, verified: tuple[Caller, float], _now: float) -> float:
    return verified[1]


class TokenVerifier:
    """Verifies bearer tokens against one configured key. Only the algorithms that fit the key
    are accepted, so `alg: none` and HS256-signed-with-the-public-key tokens are refused."""

    def __init__(
        self,
        key: str,
        algorithms: list[str],
        *,
        cache_size: int = CACHE_SIZE,
        leeway: int = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ):
        self._key = key
        self._algorithms = algorithms
        self._leeway = leeway
        # token -> (caller, its exp); TLRUCache drops an entry once clock() reaches its exp
        self._verified: TLRUCache[str, tuple[Caller, float]] = TLRUCache(
            maxsize=cache_size, ttu=_lapses_at, timer=clock
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        if settings.jwt_public_key:
            return cls(settings.jwt_public_key, ["RS256", "ES256"])
        return cls(signing_secret(settings), ["HS256"])

    @property
    def cached(self) -> int:
        """How many verified tokens this verifier currently keeps."""
        return len(self._verified)

    def verify(self, token: str) -> Caller:
        """The caller a valid token names; Unauthenticated for anything else."""
        hit = self._verified.get(token)
        if hit is not None:
            return hit[0]
        caller, exp = self._decode(token)
        self._verified[token] = (caller, exp)  # not kept at all when exp has already passed
        return caller

    def _decode(self, token: str) -> tuple[Caller, float]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                options={"require": REQUIRED_CLAIMS, "verify_aud": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; get a new one") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token lacks the required claim '{exc.claim}'") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated(
                "the token is malformed or its signature does not verify"
            ) from None
        return caller_from_claims(claims), float(claims["exp"])


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    try:
        role = Role(claims["role"])
    except (ValueError, TypeError):
        raise Unauthenticated("the token's role must be USER, MANAGER, ADMIN or SYSTEM") from None
    try:
        sub = UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthenticated("the token's sub must be a user id (UUID)") from None
    raw_company = claims.get("company_id")
    if raw_company is None and role is not Role.SYSTEM:
        raise Unauthenticated("the token lacks the required claim 'company_id'")
    try:
        company_id = UUID(str(raw_company)) if raw_company is not None else None
    except ValueError:
        raise Unauthenticated("the token's company_id must be a UUID") from None
    return Caller(sub=sub, role=role, company_id=company_id)


def signing_secret(settings: Settings) -> str:
    """JWT_SECRET, or else the dev secret kept in the data dir (generated on first use)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path: Path = settings.data_dir / DEV_SECRET_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue_token(
    settings: Settings,
    *,
    role: Role,
    sub: UUID,
    company_id: UUID | None,
    ttl_seconds: int = 3600,
) -> str:
    """Sign a token with the HS256 secret (JWT_SECRET or the dev secret). Tokens for RS256/ES256
    deployments come from the platform's identity provider, not from here."""
    if settings.jwt_public_key and not settings.jwt_secret:
        raise SystemExit(
            "JWT_PUBLIC_KEY is set: tokens must be signed by the identity provider that holds the "
            "private key; this command can sign only with JWT_SECRET or the dev secret."
        )
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(sub),
        "role": role.value,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if company_id is not None:
        claims["company_id"] = str(company_id)
    return jwt.encode(claims, signing_secret(settings), algorithm="HS256")
