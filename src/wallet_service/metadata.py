"""Client metadata: a JSON object a client attaches to what it writes, stored (jsonb) and returned
as sent. `Metadata` is the one type every request schema uses for it, so the bounds hold wherever
metadata is accepted: at most 16 KiB serialized, 16 levels deep, integers within signed 64 bits
(what PostgreSQL's and most clients' JSON readers keep exactly), finite numbers and valid Unicode
text without NUL (JSON's "\ud800" escape decodes to a lone surrogate, which no UTF-8 store can
hold, and jsonb refuses "\u0000"). Bounding it at write also bounds every listing that returns
it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, WithJsonSchema

MAX_BYTES = 16 * 1024
MAX_DEPTH = 16
_INT64 = range(-(2**63), 2**63)


def _where(path: list[str | int]) -> str:
    return "metadata" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _text(value: str, path: list[str | int]) -> str:
    if "\x00" in value:
        raise ValueError(f"{_where(path)}: text cannot contain the NUL character (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{_where(path)}: text must be valid Unicode (a lone surrogate such as \\ud800 "
                "is not); send characters outside the BMP as a surrogate pair"
            ) from None
    return value


def _bounded(value: Any, path: list[str | int]) -> Any:
    """`value` with its numbers as JSON can store them (Decimal -> float), or ValueError naming
    where it breaks a bound."""
    if len(path) > MAX_DEPTH:
        raise ValueError(f"{_where(path)}: metadata nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {_text(k, path): _bounded(v, [*path, k]) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v, [*path, i]) for i, v in enumerate(value)]
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if value not in _INT64:
            raise ValueError(
                f"{_where(path)}: integers must lie within the signed 64-bit range "
                "(-9223372036854775808 to 9223372036854775807); send larger ones as strings"
            )
        return value
    if isinstance(value, Decimal | float):
        number = float(value)
        if number in (float("inf"), float("-inf")) or number != number:
            raise ValueError(f"{_where(path)}: numbers must be finite; send this one as a string")
        return number
    raise ValueError(f"{_where(path)}: not a JSON value")


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    bounded: dict[str, Any] = _bounded(value, [])
    size = len(orjson.dumps(bounded))
    if size > MAX_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON; at most {MAX_BYTES} are kept")
    return bounded


#: A request's `metadata`: a JSON object within the bounds above.
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(check_metadata),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": True,
            "description": f"any JSON object: at most {MAX_BYTES} bytes, {MAX_DEPTH} levels "
            "deep, integers within signed 64 bits",
        }
    ),
]
