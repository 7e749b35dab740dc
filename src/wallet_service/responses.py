"""JSON responses for bodies rendered by the database (txn_json, wallet_json, ...).

PostgreSQL's jsonb stores object keys in its own order; clients read responses in the order of
the documented models, so the keys are put back in model-field order here (extra keys last).
The body itself is not re-validated: it is already the one rendering of the row."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel


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


def model_json(model: type[BaseModel], data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(in_model_order(model, data), status_code=status_code)


def model_response(body: BaseModel, status_code: int = 200) -> Response:
    """A response whose body is an already validated model, serialized once (returning the model
    itself would make FastAPI dump it, validate the dump and serialize it again)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
