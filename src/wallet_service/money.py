"""Money: parsing and formatting of amounts (pure, no I/O). Amounts are `Decimal` with exactly two
decimals, travel as JSON strings ("125.50"), and fit PostgreSQL's NUMERIC(15,2)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
#: The largest amount NUMERIC(15,2) holds.
MAX_AMOUNT = Decimal("9999999999999.99")


class Currency(StrEnum):
    USD = "USD"
    EUR = "EUR"
    INR = "INR"
    GBP = "GBP"


def parse_amount(value: Any) -> Decimal:
    """Turn a JSON string or number into a Decimal with at most two decimals, or raise ValueError
    with a message saying what is wrong. Floats are read through their shortest repr, so the JSON
    number 125.5 is exactly Decimal('125.5'), never 125.4999..."""
    if isinstance(value, bool):
        raise ValueError('amount must be a decimal string like "125.50", not a boolean')
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f'{value!r} is not a decimal amount like "125.50"') from None
    else:
        raise ValueError('amount must be a decimal string like "125.50"')
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(CENT):
        raise ValueError("amount must have at most 2 decimals")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT}")
    return amount.quantize(CENT)


def parse_positive_amount(value: Any) -> Decimal:
    amount = parse_amount(value)
    if amount <= 0:
        raise ValueError("amount must be greater than 0")
    return amount


def parse_non_negative_amount(value: Any) -> Decimal:
    amount = parse_amount(value)
    if amount < 0:
        raise ValueError("amount must not be negative")
    return amount


def format_amount(amount: Decimal) -> str:
    """The wire form: exactly two decimals."""
    return f"{amount.quantize(CENT):f}"


_AMOUNT_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": r"^\d{1,13}\.\d{2}$", "example": "125.50"}
)
_serialize = PlainSerializer(format_amount, return_type=str, when_used="always")

#: A positive amount in a request (string or number, at most 2 decimals).
PositiveAmount = Annotated[
    Decimal, BeforeValidator(parse_positive_amount), _serialize, _AMOUNT_SCHEMA
]
#: An amount that may be zero (an initial balance, for instance).
NonNegativeAmount = Annotated[
    Decimal, BeforeValidator(parse_non_negative_amount), _serialize, _AMOUNT_SCHEMA
]
#: An amount in a response.
Amount = Annotated[Decimal, BeforeValidator(parse_amount), _serialize, _AMOUNT_SCHEMA]
#: An amount that may be negative (a net figure, a SOFT budget's remaining amount).
SignedAmount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    _serialize,
    WithJsonSchema({"type": "string", "pattern": r"^-?\d{1,13}\.\d{2}$", "example": "-12.50"}),
]
