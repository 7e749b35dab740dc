"""What the OpenAPI document says about errors: the problem+json body every error answer has, and
`errors_for(...)`, the one way a router declares the error statuses an operation can answer.

Every operation's `operationId` is its endpoint function's name (`operation_id`, passed to
FastAPI as `generate_unique_id_function`), so ids are short and stable: renaming an endpoint
function is renaming an operation of the public API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from wallet_service import metadata

PROBLEM_JSON = "application/problem+json"
_REF = "#/components/schemas/"


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with the contract's stable `code`."""

    type: str = Field(
        description="a URI naming the kind of problem",
        examples=["https://wallet-service.dev/problems/insufficient-funds"],
    )
    title: str = Field(description="the kind of problem, in words", examples=["Insufficient funds"])
    status: int = Field(description="the HTTP status", examples=[409])
    detail: str = Field(description="what went wrong with this request, in words")
    code: str = Field(
        description="stable error code (contract §3)", examples=["INSUFFICIENT_FUNDS"]
    )


class FieldError(BaseModel):
    """One thing wrong with a request: where (`loc`, e.g. ["body", "amount"]) and what."""

    loc: list[str | int]
    msg: str


class ValidationProblem(Problem):
    """422 VALIDATION_ERROR: the request does not fit the schema or the rules of the operation."""

    errors: list[FieldError] | None = Field(
        default=None, description="one entry per problem, when the request's shape is at fault"
    )


class PostingRefusal(BaseModel):
    """Which posting of a batch was refused, and why."""

    index: int = Field(description="its position in `postings`, from 0")
    code: str


class BatchProblem(Problem):
    """An atomic batch refused as a whole: the first refusal's status and problem."""

    errors: list[PostingRefusal] | None = Field(
        default=None, description="the posting that was refused"
    )


#: What each error status means, whatever the operation; `codes=` adds the operation's own codes.
_MEANING: dict[int, str] = {
    401: "No bearer token, or one that is malformed, forged or expired (UNAUTHENTICATED).",
    403: "The caller's role or scope does not allow this (FORBIDDEN).",
    404: "Not found, or it belongs to another company.",
    408: "The request's head or body did not arrive within READ_TIMEOUT (REQUEST_TIMEOUT).",
    409: "Refused by the state of the resource; nothing changed.",
    413: "The request body is larger than MAX_BODY_BYTES (PAYLOAD_TOO_LARGE).",
    422: "The request does not fit the schema or the operation's rules (VALIDATION_ERROR).",
    429: "Too many requests from this caller (RATE_LIMITED); retry after Retry-After seconds.",
    431: "The request line and headers are larger than MAX_HEADER_BYTES "
    "(REQUEST_HEADERS_TOO_LARGE).",
    503: (
        "A dependency (the database, ...) is unavailable, or the request collided with a "
        "concurrent change and was rolled back (SERVICE_UNAVAILABLE); nothing changed, retry."
    ),
}

_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def errors_for(
    *statuses: int, codes: dict[int, str] | None = None, problem: type[Problem] = Problem
) -> dict[int | str, Any]:
    """The `responses=` of a route or router declaring these error statuses, each answered as
    application/problem+json. `codes` names, per status, the operation's specific error codes;
    `problem` is the body of its errors other than 422 (a subclass of Problem)."""
    responses: dict[int | str, Any] = {}
    for status in statuses:
        description = _MEANING[status]
        if codes and status in codes:
            description = f"{description} Codes: {codes[status]}."
        model = ValidationProblem if status == 422 else problem
        responses[status] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF + model.__name__}}},
        }
        if status in _HEADERS:
            responses[status]["headers"] = _HEADERS[status]
    return responses


#: What every operation behind a bearer token can answer besides its own errors.
AUTHENTICATED = errors_for(401, 422, 429, 503)


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its endpoint function's name (`get_wallet`, ...)."""
    return route.name


#: What every operation that takes a body can answer besides its own errors (added to each by
#: document_problems, so a new route cannot forget them).
WITH_BODY = errors_for(413)
#: What the HTTP server answers for any request, before it reaches an operation (limits.py).
ANY_REQUEST = errors_for(408, 431)


def document_problems(app: FastAPI) -> None:
    """Make `app`'s OpenAPI document define the schemas that errors_for() and metadata refer to,
    and declare ANY_REQUEST on every operation and WITH_BODY on every one that takes a body."""
    _, defs = models_json_schema(
        [(m, "serialization") for m in _problem_models()], ref_template=_REF + "{model}"
    )
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs["$defs"])
        schemas["MetadataValue"] = metadata.VALUE_SCHEMA
        for item in document["paths"].values():
            for operation in item.values():
                extra = {**ANY_REQUEST, **(WITH_BODY if "requestBody" in operation else {})}
                for status, response in extra.items():
                    operation["responses"].setdefault(str(status), response)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_models() -> list[type[Problem]]:
    found: list[type[Problem]] = [Problem]
    for model in found:
        found.extend(model.__subclasses__())
    return found
