"""Shapes of consumed events (contract section 6) and of the event feed."""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from wallet_service.auth.caller import Role
from wallet_service.money import Currency, PositiveAmount


class IncomingEvent(BaseModel):
    """The envelope of a consumed event; `event_id` is optional."""

    event_id: UUID | None = None
    event_type: str = Field(min_length=1, max_length=100)
    timestamp: str | None = None
    data: dict[str, Any]


class UserCreated(BaseModel):
    user_id: UUID
    email: str | None = Field(default=None, max_length=320)
    company_id: UUID
    role: Role = Role.USER
    manager_id: UUID | None = None

    @model_validator(mode="after")
    def _not_own_manager(self) -> Self:
        if self.manager_id is not None and self.manager_id == self.user_id:
            raise ValueError("manager_id must not be the user's own id")
        return self


class BookingCreated(BaseModel):
    """A booking to pay from the user's wallet (reference_type BOOKING)."""

    booking_id: str = Field(min_length=1, max_length=100)
    user_id: UUID
    amount: PositiveAmount
    currency: Currency
    description: str | None = Field(default=None, max_length=500)


class BookingCancelled(BaseModel):
    """A cancelled booking to refund (default: the whole debit, never more)."""

    booking_id: str = Field(min_length=1, max_length=100)
    user_id: UUID
    refund_amount: PositiveAmount | None = None


class EventResult(BaseModel):
    event_id: UUID | None
    event_type: str
    applied: bool = Field(description="false when this delivery changed nothing (a redelivery)")
    result: dict[str, Any] | None = None


class PublishedEvent(BaseModel):
    event_id: UUID
    event_type: str
    timestamp: str
    wallet_version: int | None = Field(
        description="the wallet's version right after the change (increases with every change "
        "of the wallet); null for events that change no wallet, such as budget events"
    )
    data: dict[str, Any]


class EventFeed(BaseModel):
    events: list[PublishedEvent]
    next: str = Field(description="pass as ?after= to get the events that follow")


__all__ = [
    "BookingCancelled",
    "BookingCreated",
    "EventFeed",
    "EventResult",
    "IncomingEvent",
    "PublishedEvent",
    "UserCreated",
]
