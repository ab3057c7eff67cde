"""WebSocket writes that are ready together leave in one ``send``.

uvicorn's ``websockets-sansio`` protocol writes every outgoing frame to the
transport at once, and asyncio's socket transport turns each write into one
``send`` system call while its buffer is empty. A peer that pipelines
requests gets its answers computed in one pass over the bytes that arrived
together, so they are ready together; sending them one syscall each was
nearly half of the server's time under 64 requests in flight (py-spy, in
``bench/peer``). ``CoalescingTransport`` keeps what is written during one
event-loop step and hands it to the real transport once, at the end of the
step (``loop.call_soon``): the order of bytes is unchanged, a lone answer
waits for no timer, and closing or aborting flushes or drops the buffer
first; more than ``FLUSH_BYTES`` kept back are handed over at once, so
backpressure still works. Writes made while the protocol handles incoming bytes are held
(``hold``/``release``) and leave at the end of ``data_received`` itself:
answers computed there (``ws_direct``) then cost no further trip round the
loop, which is most of a sequential round trip's server time.

``CoalescingWebSocketProtocol`` is uvicorn's protocol with that transport;
``runner.py`` passes a subclass of it as uvicorn's ``ws``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["FLUSH_BYTES", "CoalescingTransport", "CoalescingWebSocketProtocol"]

#: Bytes kept back at most (asyncio's default write high-water mark).
FLUSH_BYTES = 64 << 10


class CoalescingTransport(asyncio.Transport):
    """A ``Transport`` proxy whose writes within one loop step become one write."""

    __slots__ = ("_held", "_inner", "_loop", "_pending", "_pending_bytes", "_scheduled")

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        # ``inner`` is asyncio's socket transport or uvloop's; uvloop's is not
        # an ``asyncio.Transport`` subclass but has the same methods, so
        # nothing here checks the class.
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._scheduled = False
        self._held = False

    # -- writing ------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            # Past this the real transport must see the bytes now: only it
            # knows when the peer stopped taking them (it then pauses the
            # protocol's writing, and the server stops producing answers).
            self._flush()
        elif not self._scheduled and not self._held:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def hold(self) -> None:
        """Keep writes until ``release`` (the protocol is handling a read)."""
        self._held = True

    def release(self) -> None:
        """Write what was held, now."""
        self._held = False
        self.flush()

    def flush(self) -> None:
        """Hand what is kept back to the real transport now (a response is complete)."""
        if self._pending:
            self._flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        if self._inner.is_closing():
            return
        self._inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet handed to the real transport."""
        return self._pending_bytes

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + self._pending_bytes

    # -- ending -------------------------------------------------------------------

    def close(self) -> None:
        # A close frame written just before must still go out, then the FIN.
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._pending_bytes = 0
        self._inner.abort()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    # -- everything else is the real transport's -----------------------------------

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, writing through ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, CoalescingTransport):
            # Upgraded from ``uvicorn_protocols.LimitedH11Protocol``, the
            # transport coalesces already; anything else gets wrapped.
            transport = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        transport = cast(CoalescingTransport, self.transport)
        transport.hold()
        try:
            super().data_received(data)
        finally:
            transport.release()
