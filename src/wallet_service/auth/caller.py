"""Who is calling: the verified claims of the bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    USER = "USER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller. `company_id` is None only for SYSTEM (every company)."""

    sub: UUID
    role: Role
    company_id: UUID | None

    @property
    def idempotency_scope(self) -> str:
        """Idempotency keys are scoped to the caller: the same key from two callers is two keys.
        A caller is its company, role and sub (a token's sub is only unique within its issuer's
        company); SYSTEM acts for every company, so its scope is role and sub alone."""
        if self.role is Role.SYSTEM or self.company_id is None:
            return f"{self.role}:{self.sub}"
        return f"{self.company_id}:{self.role}:{self.sub}"
