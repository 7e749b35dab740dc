"""Rendering helpers for the answers a declared response model cannot render by itself.

Every route returns its declared response model, which FastAPI validates and serializes once.
`model_response` is for an answer whose model depends on the request (a dry run, a batch's mode)
or that is already a validated model; `in_model_order` for bodies rendered by the database and
streamed as they are (a statement's entries), whose keys jsonb stores in its own order."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from fastapi.responses import Response
from pydantic import BaseModel


def model_response(
    body: BaseModel, status_code: int = 200, *, exclude_unset: bool = False
) -> Response:
    """A response whose body is an already validated model, serialized once (returning the model
    itself would make FastAPI validate it again). `exclude_unset` leaves out the optional keys
    the data did not have (a batch result has `transaction` or `error`)."""
    return Response(
        body.model_dump_json(exclude_unset=exclude_unset),
        status_code=status_code,
        media_type="application/json",
    )


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for arg in get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


def in_model_order(model: type[BaseModel], data: Any) -> Any:
    """`data` (a dict, or a list of dicts) with keys ordered like `model`'s fields, recursively."""
    if isinstance(data, list):
        return [in_model_order(model, item) for item in data]
    if not isinstance(data, dict):
        return data
    ordered: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in data:
            nested = _model_in(field.annotation)
            ordered[name] = in_model_order(nested, data[name]) if nested else data[name]
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return ordered
