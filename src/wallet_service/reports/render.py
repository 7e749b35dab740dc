"""Statements as streamed bytes, JSON or CSV: the head first, then the entries as they are read,
in chunks of about CHUNK bytes, so a statement of any length is sent with bounded memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from wallet_service.reports.rules import csv_text
from wallet_service.reports.schemas import CSV_COLUMNS, StatementEntry
from wallet_service.reports.service import StatementHead
from wallet_service.responses import in_model_order

CHUNK = 64 * 1024
#: free-text columns: shown as text by spreadsheets, never run as formulas
_TEXT_COLUMNS = {"description", "reference_id", "reference_type"}


async def _split(
    parts: AsyncIterator[StatementHead | dict[str, Any]],
) -> tuple[StatementHead, AsyncIterator[dict[str, Any]]]:
    head = await anext(parts)
    assert isinstance(head, StatementHead)

    async def rest() -> AsyncIterator[dict[str, Any]]:
        async for part in parts:
            assert isinstance(part, dict)
            yield part

    return head, rest()


async def as_json(parts: AsyncIterator[StatementHead | dict[str, Any]]) -> AsyncIterator[bytes]:
    """{<head fields>, "entries": [<entry>, ...]}, entries in the Transaction field order."""
    head, entries = await _split(parts)
    buffer = bytearray(orjson.dumps(head.fields())[:-1] + b',"entries":[')
    first = True
    async for entry in entries:
        if not first:
            buffer += b","
        first = False
        buffer += orjson.dumps(in_model_order(StatementEntry, entry))
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}"
    yield bytes(buffer)


def _csv_row(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    return csv_text(str(value)) if column in _TEXT_COLUMNS else str(value)


async def as_csv(parts: AsyncIterator[StatementHead | dict[str, Any]]) -> AsyncIterator[bytes]:
    """A header row naming the columns (CSV_COLUMNS), then one row per entry (RFC 4180)."""
    _, entries = await _split(parts)
    buffer = _csv_row(list(CSV_COLUMNS))
    async for entry in entries:
        buffer += _csv_row([_cell(c, entry.get(c)) for c in CSV_COLUMNS])
        if len(buffer) >= CHUNK:
            yield buffer.encode()
            buffer = ""
    yield buffer.encode()
