"""What every protocol class of the server bounds: the request head's size, and write stalls.

Shared by ``uvicorn_protocols`` (h11 and WebSocket) and ``httptools_protocol``.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["HEAD_TOO_LARGE_RESPONSE", "MAX_HEAD_BYTES", "StallTimer", "WriteStallWatch"]

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
