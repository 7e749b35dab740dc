"""The request id: taken from the client's X-Request-Id (or made up), answered on every response,
and carried by every posting so the entries it writes name the request that caused them."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
#: what a client may send as its request id (anything else is replaced by a fresh one)
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    """For work that is not an HTTP request (a consumed event): name it for the entries it
    writes."""
    _request_id.set(value)


class RequestId:
    """ASGI middleware: sets the request id for the request's task and answers it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == HEADER.encode()), b"").decode("latin-1")
        request_id = sent if _ACCEPTED.match(sent) else str(uuid.uuid4())
        _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)
