"""Who may see or act on which wallet (contract section 2). Pure rules: no I/O.

USER: own wallet, read-only. MANAGER: reads their own wallet and their team's (users whose
manager_id is the manager), same company; manages (writes) their team's only. ADMIN: every
wallet of their company. SYSTEM: everything.
Another company's data is reported as not found, so even its existence does not leak."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from wallet_service.auth.caller import Caller, Role
from wallet_service.errors import AppError, Forbidden, ValidationFailed


@dataclass(frozen=True)
class Owner:
    """The owner of a wallet (or of a budget or transaction through its wallet)."""

    company_id: UUID
    user_id: UUID
    manager_id: UUID | None


def require_role(caller: Caller, *roles: Role) -> None:
    if caller.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(
            f"this action needs one of the roles {allowed}; the token has {caller.role}"
        )


def in_scope(caller: Caller, owner: Owner) -> bool:
    if caller.role is Role.SYSTEM:
        return True
    if caller.company_id != owner.company_id:
        return False
    if caller.role is Role.ADMIN:
        return True
    if caller.role is Role.MANAGER:
        return owner.user_id == caller.sub or owner.manager_id == caller.sub
    return owner.user_id == caller.sub


def ensure_can_read(caller: Caller, owner: Owner, not_found: AppError) -> None:
    """Reading: any role, within its scope. Another company's data -> `not_found`."""
    if caller.role is not Role.SYSTEM and caller.company_id != owner.company_id:
        raise not_found
    if not in_scope(caller, owner):
        raise Forbidden("this wallet is outside your scope")


def ensure_can_manage(caller: Caller, owner: Owner, not_found: AppError) -> None:
    """Changing a wallet, its money or its budgets: ADMIN (company), SYSTEM, and MANAGER for their
    team only ("MANAGER (team)" in the contract). A manager may read their own wallet but not
    fund it, move team money into it, or loosen their own budgets: that is their admin's call."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    ensure_can_read(caller, owner, not_found)
    if caller.role is Role.MANAGER and owner.manager_id != caller.sub:
        raise Forbidden("a manager manages their team's wallets, not their own")


@dataclass(frozen=True)
class CompanyScope:
    """What a company-wide read (a report, the dashboard) covers: one company and, for a MANAGER,
    only their team and themselves (`team_of` = the manager)."""

    company_id: UUID
    team_of: UUID | None


def company_scope(caller: Caller, company_id: UUID | None) -> CompanyScope:
    """MANAGER: their team and themselves; ADMIN: their company; SYSTEM: the company it names
    (required). An ADMIN or MANAGER naming another company is refused."""
    require_role(caller, Role.MANAGER, Role.ADMIN, Role.SYSTEM)
    if caller.role is Role.SYSTEM:
        if company_id is None:
            raise ValidationFailed(
                "a SYSTEM token covers every company: name one with company_id",
                errors=[{"loc": ["query", "company_id"], "msg": "required for a SYSTEM token"}],
            )
        return CompanyScope(company_id, None)
    assert caller.company_id is not None  # every role but SYSTEM has one (auth/tokens.py)
    if company_id is not None and company_id != caller.company_id:
        raise Forbidden("this token covers its own company only")
    return CompanyScope(caller.company_id, caller.sub if caller.role is Role.MANAGER else None)
