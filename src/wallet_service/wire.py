"""JSON as it arrives from clients (HTTP request bodies and consumed broker messages).

Numbers with a fraction or an exponent are decoded as `Decimal`, from the exact text the client
wrote, never through a float: the float nearest to 1.0000000000000001 is 1.0, so a float-based
reader would take that amount (sixteen decimals) for a valid 1.00. With the written value at hand,
money.parse_amount can refuse every amount with more than two decimals. Integers stay `int`.
`NaN` and `Infinity`, which Python's json module accepts but JSON does not, are refused, as are
bodies that are not UTF-8 or nest deeper than the decoder can follow.

FastAPI reads request bodies with `Request.json()`; `ExactJsonRoute` gives every route of a router a
request whose `json()` is `loads` below. Routers are declared with `route_class=ExactJsonRoute`."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException


class InvalidJson(ValueError):
    """A body that is not acceptable JSON; `reason` says why, for the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number; send a finite number or a decimal string")


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; numbers with a fraction or exponent become exact Decimals.
    Raises json.JSONDecodeError for malformed JSON and InvalidJson for the refusals above."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidJson("the body is not valid UTF-8") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJson("the body nests arrays or objects too deeply") from None


class BodyNotJson(HTTPException):
    """InvalidJson raised while FastAPI reads a body. An HTTPException, because FastAPI passes
    those through its body reading untouched (any other error becomes a bare 400); app.py renders
    it as 422 VALIDATION_ERROR like every malformed body."""

    def __init__(self, reason: str):
        super().__init__(status_code=422, detail=reason)


class ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                body = loads(await self.body())
            except InvalidJson as exc:
                raise BodyNotJson(exc.reason) from None
            # Every body of this API is an object. FastAPI validates bodies with
            # from_attributes, so a Decimal (a number with a fraction) would otherwise pass as an
            # object with none of the fields, i.e. an empty update.
            if body is not None and not isinstance(body, dict):
                raise BodyNotJson("the body must be a JSON object")
            self._json = body
        return self._json


class ExactJsonRoute(APIRoute):
    """An APIRoute whose request bodies are decoded by `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJsonRequest(request.scope, request.receive))

        return exact_json_handler
