"""uvicorn's HTTP and WebSocket protocols with the server's limits built in.

The server runs uvicorn with these subclasses instead of the stock ``h11``
(or ``httptools``: ``httptools_protocol.py``, used where it installs) and
``websockets-sansio`` protocols (``protocol_classes(limits)``). What they
add, each where only the protocol can do it:

* ``LimitedH11Protocol`` — writes through ``ws_transport.CoalescingTransport``
  (a response's head and body leave in one ``send``), and a bounded time to receive a complete
  request head. uvicorn only times out keep-alive connections between
  requests, and its keep-alive timer is cancelled by the first byte of the
  next request; a connection that sends nothing, or half a header, would
  otherwise stay open for good. The timer runs whenever h11 waits for a
  request head and is not restarted by the bytes that trickle in. It also
  bounds the head's size at ``MAX_HEAD_BYTES`` (431): h11's own 16 KiB
  bound only applies to a head still incomplete, not to one that arrives
  whole in a single read.
* both: **a write stall bound.** When the transport's buffer passes its
  high-water mark (the peer stopped taking bytes) and stays there for
  ``write_stall_timeout`` seconds, the transport is aborted; uvicorn would
  otherwise wait for it to drain for as long as the peer stays connected.
* ``LimitedWebSocketProtocol`` (on uvicorn's ``websockets-sansio`` protocol,
  with ``ws_direct``'s direct messages and ``ws_transport``'s coalesced
  writes):

  - **Aborting the transport.** ``transport.close()`` only closes the socket
    once its write buffer is flushed, which never happens when the peer
    stops reading: the socket, its fd and the protocol would stay forever.
    The protocol puts ``{"abort": fn}`` in the ASGI scope's extensions under
    ``TRANSPORT_EXTENSION`` (the inspector endpoint calls it when its close
    frame was not taken within the close timeout), and after *any* ASGI app
    returns it aborts a transport still open ``close_timeout`` seconds later.
  - **The message limit on the message.** uvicorn hands ``websockets`` one
    ``max_size``, which is also checked against each frame's wire length;
    an incompressible 1 MiB message sent with permessage-deflate arrives in
    a frame a little over 1 MiB. The parser is given ``wire_allowance`` more
    (``runner.py``), and the message limit is applied here, to the message
    after decompression: over it, the connection closes with 1009.
  - **An answer to a bad handshake.** When ``websockets`` cannot parse the
    upgrade request (a header line over 8 KiB, too many headers, a malformed
    request), it prepares a 4xx response (or only an EOF) that uvicorn never
    writes, so the client heard nothing. It is written now (a 400 when
    ``websockets`` had none), and the connection closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from websockets.frames import CloseCode

from .limits import Limits
from .protocol_bounds import (
    HEAD_TOO_LARGE_RESPONSE,
    MAX_HEAD_BYTES,
    BoundedHttpProtocol,
    StallTimer,
    WriteStallWatch,
)
from .ws_direct import DirectWebSocketProtocol
from .ws_transport import CoalescingTransport

__all__ = [
    "MAX_HEAD_BYTES",
    "TRANSPORT_EXTENSION",
    "LimitedH11Protocol",
    "LimitedWebSocketProtocol",
    "abort_from_scope",
    "http_parser",
    "protocol_classes",
]

#: ASGI scope extension naming the WebSocket transport's ``abort`` callable.
TRANSPORT_EXTENSION = "actorscope.transport"
_log = logging.getLogger("actorscope.server")


def abort_from_scope(scope: Mapping[str, Any]) -> Callable[[], None] | None:
    """The ``abort()`` the protocol put in ``scope``, or ``None`` (another server)."""
    extension = (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION)
    abort = None if extension is None else extension.get("abort")
    return abort if callable(abort) else None


class LimitedH11Protocol(BoundedHttpProtocol, H11Protocol):
    """uvicorn's h11 protocol with request-head time and size bounds and a write-stall bound."""

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and not self._upgraded and self._head_too_large(data):
            _log.info("refused a request head over %d bytes", MAX_HEAD_BYTES)
            self._stop_head_timer()
            self.transport.write(HEAD_TOO_LARGE_RESPONSE)
            self.transport.close()
            return
        super().data_received(data)
        self._watch_head()

    def _head_too_large(self, data: bytes) -> bool:
        buffered = self.conn.trailing_data[0]
        if len(buffered) + len(data) <= MAX_HEAD_BYTES:
            return False  # the common case: nothing to search
        # More than the bound has come: the head must end within it.
        head = bytes(buffered) + data
        return head.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4) < 0

    def on_response_complete(self) -> None:
        # The response leaves now, not at the end of the loop step: tasks
        # woken meanwhile (a workflow re-run after a replay) run before a
        # deferred flush and would hold the answer back by their own time.
        cast(CoalescingTransport, self.transport).flush()
        super().on_response_complete()
        self._watch_head()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgrading()
        super().handle_websocket_upgrade(event)
        # What h11 read past the request head is the upgraded stream.
        self._pass_on(bytes(self.conn.trailing_data[0]))

    def _waiting_for_head(self) -> bool:
        return (
            not self._upgraded
            and self.conn.their_state is h11.IDLE
            and not self.transport.is_closing()
        )


class LimitedWebSocketProtocol(WriteStallWatch, DirectWebSocketProtocol):
    """uvicorn's websockets-sansio protocol (direct messages, ``ws_direct.py``;
    coalescing writes, ``ws_transport.py``) with abort, the message limit and
    4xx answers to bad handshakes."""

    message_limit: int = Limits().max_message_bytes
    reap_timeout: float = Limits().close_timeout
    write_stall_timeout: float = Limits().write_stall_timeout

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = self.reap_timeout
        self._answered_bad_handshake = False
        self._stall = StallTimer(self.loop, self.write_stall_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stall.resumed()
        super().connection_lost(exc)

    def abort(self) -> None:
        """Drop the connection now, whatever is still unwritten."""
        if not self.disconnected and self.transport is not None:
            self.transport.abort()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            # The ASGI task was created but has not run: it sees this.
            self.scope["extensions"][TRANSPORT_EXTENSION] = {"abort": self.abort}

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if (
            not self.handshake_initiated
            and self.conn.handshake_exc is not None
            and not self._answered_bad_handshake
        ):
            self._answer_bad_handshake()

    def _answer_bad_handshake(self) -> None:
        self._answered_bad_handshake = True
        output = b"".join(self.conn.data_to_send())
        if not output:
            # websockets only sent EOF (a request it could not parse at all).
            response = self.conn.reject(HTTPStatus.BAD_REQUEST, "invalid WebSocket request\n")
            output = response.serialize()
        _log.info("refused a WebSocket handshake: %s", self.conn.handshake_exc)
        self.transport.write(output)
        self.transport.close()

    def send_receive_event_to_app(self) -> None:
        size = sum(len(frame) for frame in self.frames)
        if size > self.message_limit and not self.close_sent:
            self.frames = []
            self.conn.fail(
                CloseCode.MESSAGE_TOO_BIG,
                f"message of {size} bytes is over the limit of {self.message_limit}",
            )
            self.handle_parser_exception()
            return
        super().send_receive_event_to_app()

    async def run_asgi(self) -> None:
        await super().run_asgi()
        if not self.disconnected:
            # The app is done; a peer that has not taken what is left (its
            # close frame) within close_timeout is not going to.
            self.loop.call_later(self.close_timeout, self._reap)

    def _reap(self) -> None:
        if not self.disconnected:
            _log.warning("aborting a WebSocket whose peer stopped reading")
            self.abort()


def http_parser(requested: str | None = None) -> str:
    """``"httptools"`` where it installs, else ``"h11"``; ``requested`` or
    ``ACTORSCOPE_HTTP_PARSER`` forces one (to compare, or to rule httptools out)."""
    name = (requested or os.environ.get("ACTORSCOPE_HTTP_PARSER") or "").lower()
    if name not in ("", "httptools", "h11"):
        raise ValueError(f"unknown HTTP parser {name!r} (httptools or h11)")
    if name == "h11":
        return "h11"
    try:
        import httptools  # noqa: F401
    except ImportError:
        if name == "httptools":
            raise
        return "h11"
    return "httptools"


def protocol_classes(
    limits: Limits, *, parser: str | None = None
) -> tuple[type[asyncio.Protocol], type[LimitedWebSocketProtocol]]:
    """The ``http=`` and ``ws=`` classes for uvicorn, configured with ``limits``.

    The HTTP class is ``httptools_protocol.LimitedHttpToolsProtocol`` when
    httptools installs (``http_parser``), else ``LimitedH11Protocol``.
    """
    base: type[Any] = LimitedH11Protocol
    if http_parser(parser) == "httptools":
        from .httptools_protocol import LimitedHttpToolsProtocol

        base = LimitedHttpToolsProtocol

    class Http(base):  # type: ignore[misc]
        header_timeout = limits.header_timeout
        write_stall_timeout = limits.write_stall_timeout

    class WebSocket(LimitedWebSocketProtocol):
        message_limit = limits.max_message_bytes
        reap_timeout = limits.close_timeout
        write_stall_timeout = limits.write_stall_timeout

    return Http, WebSocket
