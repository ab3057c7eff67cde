"""Refuse HTTP request bodies over the server's limit, before reading them.

``BodyLimit`` wraps the whole ASGI app (``runner.py``). A body announced
larger than the limit by ``Content-Length`` is answered 413
``request.too_large`` at once, without reading a byte of it. A body of
unknown length (``Transfer-Encoding: chunked``) is counted as it arrives and
answered 413 as soon as it passes the limit; one that stays within it is
handed to the app as read. A ``Content-Length`` within the limit needs
nothing more: the HTTP parser never delivers more than it announced.
WebSocket traffic passes through (its limit is per message, PROTOCOL.md §5).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "too_large_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large_body(limit: int) -> dict[str, str]:
    """The JSON error body of a 413 (the HTTP API's ``{"group", "code", "message"}``)."""
    return {
        "group": "request",
        "code": "too_large",
        "message": f"the request body is over the limit of {limit} bytes",
    }


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes``."""

    def __init__(self, app: App, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes

    @property
    def state(self) -> Any:
        """The wrapped app's ``state``: what is found on the app is found through this."""
        return getattr(self.app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _framing(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(send)
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left mid-body; let the app see it as starlette expects.
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        first = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([first], receive), send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(too_large_body(self.max_bytes)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # The unread body is never going to be read: end the
                    # connection after the answer instead of parsing it.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _framing(scope: Scope) -> tuple[int | None, bool]:
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None  # the HTTP parser already refuses a bad one
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
