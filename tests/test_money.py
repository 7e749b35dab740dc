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
        (125.5, "125.50"),
        (7, "7.00"),
        ("0.1", "0.10"),
        ("1.500", "1.50"),
        (0.07, "0.07"),
    ],
)
def test_parse_and_format(raw: object, expected: str) -> None:
    assert format_amount(parse_amount(raw)) == expected


@pytest.mark.parametrize("raw", ["1.005", "x", "NaN", "-Infinity", True, None, "1e400", 10**14])
def test_refusals(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(raw)


def test_positive_amount() -> None:
    assert parse_positive_amount("0.01") == Decimal("0.01")
    with pytest.raises(ValueError, match="greater than 0"):
        parse_positive_amount("0.00")
