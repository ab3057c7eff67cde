"""What every protocol class of the server bounds: the request head's size, and write stalls.

Shared by ``uvicorn_protocols`` (h11 and WebSocket) and ``httptools_protocol``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any, cast

from .limits import Limits
from .ws_transport import CoalescingTransport

__all__ = [
    "HEAD_TOO_LARGE_RESPONSE",
    "MAX_HEAD_BYTES",
    "BoundedHttpProtocol",
    "StallTimer",
    "WriteStallWatch",
]

#: Largest request head (request line and headers), as h11 bounds incomplete ones.
MAX_HEAD_BYTES = 16 << 10

HEAD_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: 32\r\n\r\nrequest header fields too large\n"
)

_log = logging.getLogger("actorscope.server")


class StallTimer:
    """Aborts ``transport`` if writing stays paused for ``timeout`` seconds."""

    __slots__ = ("_handle", "_loop", "_timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._handle: asyncio.TimerHandle | None = None

    def paused(self, transport: asyncio.Transport) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._timeout, self._stalled, transport)

    def resumed(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _stalled(self, transport: asyncio.Transport) -> None:
        self._handle = None
        _log.warning("aborting a connection whose peer took no bytes for %gs", self._timeout)
        transport.abort()


class WriteStallWatch(asyncio.Protocol):
    """Mixin for uvicorn's protocols: a write pause that lasts too long aborts.

    The protocol sets ``self._stall`` in its ``__init__`` (it needs the loop
    and the timeout, which the protocol has).
    """

    _stall: StallTimer
    transport: asyncio.Transport

    def pause_writing(self) -> None:
        super().pause_writing()
        self._stall.paused(self.transport)

    def resume_writing(self) -> None:
        self._stall.resumed()
        super().resume_writing()


class BoundedHttpProtocol(WriteStallWatch, abc.ABC):
    """Mixin for uvicorn's HTTP protocols (h11 and httptools): what both bound alike.

    * Writes go through ``CoalescingTransport``: a response's head and body,
      written one after the other, leave in one send.
    * A write pause longer than ``write_stall_timeout`` aborts (``WriteStallWatch``).
    * A request head must be complete within ``header_timeout``. The protocol
      says when it waits for a head (``_waiting_for_head``) and calls
      ``_watch_head`` after each read and response; the timer is armed once
      per head, not per chunk, so a peer trickling a byte at a time gets the
      same bounded time as one sending none.
    """

    header_timeout: float = Limits().header_timeout
    write_stall_timeout: float = Limits().write_stall_timeout
    loop: asyncio.AbstractEventLoop
    _head_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: True once a WebSocket protocol owns the transport.
        self._upgraded = False
        self._stall = StallTimer(self.loop, self.write_stall_timeout)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport), self.loop))
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stall.resumed()
        super().connection_lost(exc)

    def _upgrading(self) -> None:
        """From here on the WebSocket protocol owns the transport."""
        self._upgraded = True
        self._stop_head_timer()

    def _pass_on(self, early: bytes) -> None:
        """Give the WebSocket protocol the bytes its upgrade request arrived with.

        uvicorn hands the new protocol the request head alone, so frames a
        client sent in the same packet as its handshake were lost, while the
        same frames one packet later are read (and queued until the app
        accepts). Now both are read alike.
        """
        if early and not self.transport.is_closing():
            cast(asyncio.Protocol, self.transport.get_protocol()).data_received(early)

    @abc.abstractmethod
    def _waiting_for_head(self) -> bool:
        """Whether the connection waits for (the rest of) a request head now."""

    def _watch_head(self) -> None:
        if not self._waiting_for_head():
            self._stop_head_timer()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting_for_head():
            _log.info("closing a connection that sent no complete request head in time")
            self.transport.close()
