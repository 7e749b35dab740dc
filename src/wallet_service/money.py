"""Money: parsing and formatting of amounts (pure, no I/O). Amounts are `Decimal` with exactly two
decimals, travel as JSON strings ("125.50"), and fit PostgreSQL's NUMERIC(15,2)."""

from __future__ import annotations

import re
from decimal import Decimal
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


#: The wire form of an amount in a string: ASCII digits, optionally "-" before them and "." with
#: one or two decimals after. No exponent, sign "+", spaces, separators or non-ASCII digits.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")
_TOO_MANY_DECIMALS = re.compile(r"-?[0-9]+\.[0-9]{3,}")


def parse_amount(value: Any) -> Decimal:
    """Read an amount from a request: a plain decimal string ("125.50", "7", "-3.1") or a JSON
    number with at most two decimals. JSON numbers arrive as Decimal or int (wire.loads keeps the
    number as written), so 1.0000000000000001 is refused rather than rounded; a float is refused
    outright, since its value is no longer what the client wrote. Raises ValueError saying what
    is wrong. The result has exactly two decimals and is never negative zero."""
    if isinstance(value, bool | float):
        raise ValueError('amount must be a decimal string like "125.50" or a JSON number')
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("amount must be a finite number")
        amount = value
    elif isinstance(value, str):
        if _TOO_MANY_DECIMALS.fullmatch(value):
            raise ValueError("amount must have at most 2 decimals")
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError(
                f'{value[:40]!r} is not a plain decimal amount like "125.50" (digits with at '
                "most 2 decimals; no exponent, spaces, separators or signs other than '-')"
            )
        amount = Decimal(value)
    else:
        raise ValueError('amount must be a decimal string like "125.50"')
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("amount must have at most 2 decimals")
    return _no_negative_zero(amount.quantize(CENT))


def _no_negative_zero(amount: Decimal) -> Decimal:
    """Decimal keeps the sign of zero ("-0" -> Decimal('-0')), which would print as "-0.00"."""
    return abs(amount) if amount.is_zero() else amount


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
    """The wire form: exactly two decimals, never "-0.00"."""
    return f"{_no_negative_zero(amount.quantize(CENT)):f}"


def _request_amount_schema(string_pattern: str, number: dict[str, Any]) -> WithJsonSchema:
    """What parse_amount accepts, as JSON Schema: a plain decimal string, or a JSON number."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": string_pattern},
                {"type": "number", "multipleOf": 0.01, "maximum": float(MAX_AMOUNT), **number},
            ],
            "examples": ["125.50"],
        }
    )


_serialize = PlainSerializer(format_amount, return_type=str, when_used="always")

#: A positive amount in a request (string or number, at most 2 decimals).
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(parse_positive_amount),
    _serialize,
    _request_amount_schema(
        r"^0*(?:[1-9][0-9]{0,12}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$",
        {"exclusiveMinimum": 0},
    ),
]
#: An amount that may be zero (an initial balance, for instance).
NonNegativeAmount = Annotated[
    Decimal,
    BeforeValidator(parse_non_negative_amount),
    _serialize,
    _request_amount_schema(
        r"^(?:-?0+(?:\.0{1,2})?|0*[0-9]{1,13}(?:\.[0-9]{1,2})?)$", {"minimum": 0}
    ),
]
#: An amount in a response: a string with two decimals.
Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    _serialize,
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,13}\.\d{2}$", "examples": ["125.50"]}),
]
#: An amount that may be negative (a net figure, a SOFT budget's remaining amount).
SignedAmount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    _serialize,
    WithJsonSchema({"type": "string", "pattern": r"^-?\d{1,13}\.\d{2}$", "examples": ["-12.50"]}),
]
