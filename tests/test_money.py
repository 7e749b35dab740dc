"""Money parsing (pure): exact decimals, two places, clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wallet_service.money import format_amount, parse_amount, parse_positive_amount


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("125.5", "125.50"),
        ("125.50", "125.50"),
        ("-3.10", "-3.10"),
        ("007", "7.00"),
        (Decimal("125.5"), "125.50"),  # a JSON number, as the request decoder reads it
        (Decimal("1E+2"), "100.00"),
        (7, "7.00"),
        ("0.1", "0.10"),
    ],
)
def test_parse_and_format(raw: object, expected: str) -> None:
    assert format_amount(parse_amount(raw)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "1.005",
        "1.500",
        "x",
        "NaN",
        "-Infinity",
        "1e2",
        "1_000",
        "\uff11",
        " 1",
        "1\n",
        True,
        None,
        "1e400",
        10**14,
        Decimal("1.0000000000000001"),
        Decimal("NaN"),
        1.5,  # floats never carry amounts: request numbers are decoded as Decimal
    ],
)
def test_refusals(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(raw)


@pytest.mark.parametrize("raw", ["-0", "-0.00", Decimal("-0.0"), Decimal("-0E+3")])
def test_negative_zero_is_zero(raw: object) -> None:
    amount = parse_amount(raw)
    assert format_amount(amount) == "0.00"
    assert not amount.is_signed()
    assert format_amount(Decimal("-0.004")) == "0.00"


def test_positive_amount() -> None:
    assert parse_positive_amount("0.01") == Decimal("0.01")
    with pytest.raises(ValueError, match="greater than 0"):
        parse_positive_amount("0.00")
    with pytest.raises(ValueError, match="greater than 0"):
        parse_positive_amount("-5.00")
