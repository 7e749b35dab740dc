"""Typed domain errors. Each carries its HTTP status and the contract's stable `code`; the one
handler in app.py renders every one as application/problem+json."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    """Base of every error a client may see."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors


class Unauthenticated(AppError):
    status, code, title = 401, "UNAUTHENTICATED", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "FORBIDDEN", "Not allowed"


class NotFound(AppError):
    status, code, title = 404, "NOT_FOUND", "Not found"


class WalletNotFound(NotFound):
    code, title = "WALLET_NOT_FOUND", "Wallet not found"


class UserNotFound(NotFound):
    code, title = "USER_NOT_FOUND", "User not found"


class BudgetNotFound(NotFound):
    code, title = "BUDGET_NOT_FOUND", "Budget not found"


class TransactionNotFound(NotFound):
    code, title = "TRANSACTION_NOT_FOUND", "Transaction not found"


class Conflict(AppError):
    status, code, title = 409, "CONFLICT", "Conflict"


class WalletExists(Conflict):
    code, title = "WALLET_EXISTS", "The user already has a wallet"


class InsufficientFunds(Conflict):
    code, title = "INSUFFICIENT_FUNDS", "Insufficient funds"


class BudgetExceeded(Conflict):
    code, title = "BUDGET_EXCEEDED", "Budget exceeded"


class WalletNotActive(Conflict):
    code, title = "WALLET_NOT_ACTIVE", "Wallet is not active"


class WalletNotEmpty(Conflict):
    code, title = "WALLET_NOT_EMPTY", "Wallet is not empty"


class InvalidStatusTransition(Conflict):
    code, title = "INVALID_STATUS_TRANSITION", "Invalid status transition"


class CurrencyMismatch(Conflict):
    code, title = "CURRENCY_MISMATCH", "Currency mismatch"


class BudgetOverlap(Conflict):
    code, title = "BUDGET_OVERLAP", "Budget overlaps an active one"


class IdempotencyKeyReused(Conflict):
    code, title = "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key reused with another body"


class HoldNotPending(Conflict):
    code, title = "HOLD_NOT_PENDING", "Not an open hold"


class CaptureExceedsHold(Conflict):
    code, title = "CAPTURE_EXCEEDS_HOLD", "Capture exceeds the hold"


class ValidationFailed(AppError):
    status, code, title = 422, "VALIDATION_ERROR", "Invalid request"


class RateLimited(AppError):
    status, code, title = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status, code, title = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


class ConcurrencyConflict(ServiceUnavailable):
    """A deadlock or serialization failure: the transaction was rolled back and may be retried."""


#: The media type of every error response.
PROBLEM = "application/problem+json"


def problem_document(
    status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The body of an error response: RFC 9457 problem details plus the contract's `code` (and
    `errors` for validation)."""
    body: dict[str, Any] = {
        "type": f"https://wallet-service.dev/problems/{code.lower().replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def _all_subclasses(cls: type[AppError]) -> list[type[AppError]]:
    out: list[type[AppError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


#: Error classes by contract code, used to translate errors raised inside PostgreSQL functions.
BY_CODE: dict[str, type[AppError]] = {}
for _cls in _all_subclasses(AppError):
    BY_CODE.setdefault(_cls.code, _cls)  # the general class of a code wins over its refinements
