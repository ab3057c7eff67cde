"""CORS for every HTTP route, so a browser app on another origin can call us (PROTOCOL.md §10.2).

The RivetKit Inspector UI runs on its own origin (hosted by Rivet, or a
local build), so each of its calls is cross-origin. This ASGI middleware:

* answers every ``OPTIONS`` request itself with 204 — a preflight
  (``Access-Control-Request-Method`` present) mirrors ``Origin``, allows the
  requested method and headers, and allows a private-network request
  (Chromium asks before a public page may reach a loopback server); a plain
  ``OPTIONS /`` (the UI's reachability probe) is a 2xx too;
* adds ``Access-Control-Allow-Origin`` (the mirrored origin),
  ``Access-Control-Expose-Headers`` and ``Vary: Origin`` to every other
  HTTP response of a request that carries ``Origin``.

It never sends ``Access-Control-Allow-Credentials``: auth is bearer tokens in
headers, never cookies, so a page on another origin can do no more than the
token it holds allows. WebSocket traffic passes untouched.

That argument needs a token. A ``--dev`` server without one has auth off,
so there CORS is granted only to origins that are this machine (``localhost``,
``127.0.0.1``, ``[::1]``, any port) and to the hosted RivetKit Inspector
(``https://inspect.rivet.dev``): any other web page the developer happens to
visit gets no CORS headers, and the browser keeps it from reading answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ALLOWED_METHODS",
    "EXPOSED_HEADERS",
    "HOSTED_INSPECTOR_ORIGIN",
    "CorsMiddleware",
    "trusted_without_auth",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Methods a preflight may ask for (everything the HTTP API answers).
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#: Response headers a cross-origin page may read besides the safelisted ones.
EXPOSED_HEADERS = "Content-Type, Content-Length, Retry-After"
#: Seconds a browser may cache a preflight answer.
MAX_AGE = "600"
#: Where Rivet hosts the Inspector UI.
HOSTED_INSPECTOR_ORIGIN = "https://inspect.rivet.dev"

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def trusted_without_auth(origin: bytes) -> bool:
    """An origin granted CORS by a server with auth off: this machine, or the hosted Inspector."""
    text = origin.decode("latin-1").lower()
    if text == HOSTED_INSPECTOR_ORIGIN:
        return True
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("http", "https"):
        return False
    host = rest.rsplit(":", 1)[0] if not rest.endswith("]") else rest
    return host in _LOOPBACK_HOSTS


class CorsMiddleware:
    """Wraps an ASGI app with the CORS behaviour described above."""

    def __init__(self, app: App, *, auth_off: Callable[[], bool] = lambda: False) -> None:
        """``auth_off()`` tells whether the server has auth off (see above)."""
        self.app = app
        self.auth_off = auth_off

    def _allowed(self, origin: bytes | None) -> bytes | None:
        if origin is None or (self.auth_off() and not trusted_without_auth(origin)):
            return None
        return origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = self._allowed(headers.get(b"origin"))
        if scope["method"] == "OPTIONS":
            await _answer_options(send, origin, headers)
            return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_cors(list(message.get("headers") or ()), origin)
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # Later duplicates win; none of the headers read here may repeat.
    return {name.lower(): value for name, value in scope.get("headers") or ()}


def _with_cors(headers: list[tuple[bytes, bytes]], origin: bytes) -> list[tuple[bytes, bytes]]:
    kept = [(n, v) for n, v in headers if not n.lower().startswith(b"access-control-")]
    vary = [v for n, v in kept if n.lower() == b"vary"]
    kept = [(n, v) for n, v in kept if n.lower() != b"vary"]
    vary_value = b", ".join([*vary, b"Origin"]) if vary else b"Origin"
    return [
        *kept,
        (b"access-control-allow-origin", origin),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
        (b"vary", vary_value),
    ]


async def _answer_options(send: Send, origin: bytes | None, headers: dict[bytes, bytes]) -> None:
    out: list[tuple[bytes, bytes]] = [
        (b"allow", ALLOWED_METHODS.encode()),
        (b"content-length", b"0"),
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if origin is not None:
        out.append((b"access-control-allow-origin", origin))
        if b"access-control-request-method" in headers:
            out.append((b"access-control-allow-methods", ALLOWED_METHODS.encode()))
            out.append((b"access-control-max-age", MAX_AGE.encode()))
        requested = headers.get(b"access-control-request-headers")
        if requested:
            out.append((b"access-control-allow-headers", requested))
        if headers.get(b"access-control-request-private-network", b"").lower() == b"true":
            out.append((b"access-control-allow-private-network", b"true"))
    await send({"type": "http.response.start", "status": 204, "headers": out})
    await send({"type": "http.response.body", "body": b""})
