"""The rendering of an answer whose model depends on the request (a dry run, a batch's mode),
where one declared response model cannot say it: validated against that model, serialized once
by pydantic. Every other route returns its declared response model, and FastAPI does the same."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel


def model_response(model: type[BaseModel], data: Any, status_code: int = 200) -> Response:
    """`data` validated as `model` (a bug if it does not fit) and rendered as its JSON; optional
    keys that `data` does not have stay absent (a batch result has `transaction` or `error`)."""
    body = model.model_validate(data).model_dump_json(exclude_unset=True)
    return Response(body, status_code=status_code, media_type="application/json")
