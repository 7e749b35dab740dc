"""Limits on what a client may send, and how slowly: the request body's size (BodyLimit, ASGI
middleware), and the request head's size and the time to send head and body (GuardedHttpProtocol,
the HTTP protocol uvicorn serves with).

uvicorn bounds neither the size of a request's head (request line and headers) nor the time a
client takes to send it, so one client trickling a header a byte at a time, or sending megabytes
of headers, would hold a connection and memory for as long as it liked. GuardedHttpProtocol,
uvicorn's httptools protocol with three additions, cuts such clients off:

* a request head larger than `max_header_bytes` is answered 431 and the connection closed (the
  bytes are counted as they arrive, so an oversized head is never buffered whole);
* a request whose head has not fully arrived `read_timeout_s` after it began (or after the
  connection opened) is answered 408 and closed; so is one whose body has not fully arrived
  `read_timeout_s` after its head.

Every refusal is problem+json like any other error, with `Connection: close` (the rest of the
request is not worth reading). Idle keep-alive connections are closed by uvicorn's own
`timeout_keep_alive`."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from wallet_service.config import Settings
from wallet_service.errors import PROBLEM, problem_document


@dataclass(frozen=True)
class ClientLimits:
    max_header_bytes: int = Settings.max_header_bytes
    read_timeout_s: float = Settings.read_timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(settings.max_header_bytes, settings.read_timeout_s)


#: Seconds a refused connection is kept open to drain what the client still sends.
LINGER_S = 2.0


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit and read deadlines (module doc)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ClientLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or ClientLimits()
        #: bytes received since the current request's head began, while it is incomplete
        self._in_head = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- deadlines ------------------------------------------------------------------------------

    def _arm(self, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.read_timeout_s, self._too_slow, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if what == "body" and self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the app answered already; nothing more to say
            return
        self._refuse(
            408,
            "REQUEST_TIMEOUT",
            "Request timeout",
            f"the request's {what} did not arrive within {self.limits.read_timeout_s:g} seconds "
            "(READ_TIMEOUT); send the whole request at once",
        )

    # -- refusals -------------------------------------------------------------------------------

    def _refuse(self, status: int, code: str, title: str, detail: str) -> None:
        """Answer a problem+json response and close the connection."""
        body = orjson.dumps(problem_document(status, code, title, detail))
        head = [STATUS_LINES[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: ",
            PROBLEM.encode(),
            b"\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._refused = True
        if self.transport.can_write_eof():
            # a lingering close: end our side, then read and drop what the client still sends
            # for a moment. Closing at once with its bytes unread would make the kernel reset
            # the connection, and the client could lose the answer before reading it.
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _head_too_large(self) -> None:
        self._refuse(
            431,
            "REQUEST_HEADERS_TOO_LARGE",
            "Request headers too large",
            f"the request line and headers exceed {self.limits.max_header_bytes} bytes "
            "(MAX_HEADER_BYTES)",
        )

    # -- uvicorn / httptools callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Counted as it arrives, before the parser buffers it: httptools hands over a header only
        # once it is complete, so a limit checked per header would let one endless header in.
        if self._refused:
            return  # lingering after a refusal: dropped
        if self._in_head:
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) > room:
                # parse what fits, and one byte more: a head that is still incomplete is too
                # large; one that ended is followed by its body (or the next request)
                fits, rest = data[: room + 1], data[room + 1 :]
                self._head_bytes += len(fits)
                super().data_received(fits)
                if self._in_head and not self.transport.is_closing():
                    self._head_too_large()
                elif rest:
                    self.data_received(rest)
                return
            self._head_bytes += len(data)
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the first request's deadline runs from the connection
            self._arm("head")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm("body")  # disarmed by on_message_complete, at once when there is no body
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0  # the next request's head may follow
        super().on_message_complete()


STATUS_LINES = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's `http` setting: GuardedHttpProtocol with the settings' limits. (A partial of a
    module-level class, so it can be handed to uvicorn's worker processes.)"""
    protocol = functools.partial(GuardedHttpProtocol, limits=ClientLimits.from_settings(settings))
    return cast(type[asyncio.Protocol], protocol)


class BodyLimit:
    """ASGI middleware: a request body of more than `max_bytes` is answered 413
    PAYLOAD_TOO_LARGE, at once when its Content-Length says so, else as soon as the bytes read
    pass the limit (the HTTPException raised then is rendered by the app's error handler)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.detail = (
            f"the request body is larger than {max_bytes} bytes, the limit (MAX_BODY_BYTES); "
            "send fewer postings per batch or less metadata"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            document = problem_document(413, "PAYLOAD_TOO_LARGE", "Payload too large", self.detail)
            response = JSONResponse(
                document, status_code=413, media_type=PROBLEM, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.detail, headers={"Connection": "close"})
            return message

        await self.app(scope, counting_receive, send)
