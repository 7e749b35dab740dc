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
        """Idempotency keys are scoped to the caller: the same key from two callers is two keys."""
        return f"{self.role}:{self.sub}"
