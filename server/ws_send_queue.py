"""The bounded per-connection send queue of the WebSocket inspector.

Every frame the server sends to one inspector goes through one
``SendQueue``; a single writer task (``run``) drains it into the ASGI
``send``. The queue is bounded both in frames and in bytes (a slow
reader must never grow the server's memory without bound):

* pushes (``offer``) come from façade listeners that must not block, so when
  a push does not fit, the connection is given up: the pending frames are
  dropped and the writer closes with 1008 ``inspector.slow_consumer``;
* replies (``put``) come from the connection's own reader, which simply waits
  for room: a peer that pipelines requests without reading its answers is
  throttled by TCP instead of being disconnected (until it has taken no
  bytes for the write-stall timeout, when ``uvicorn_protocols`` aborts it).

With a ``DirectChannel`` (``use_direct``, ``ws_direct``), a frame offered or
put while nothing is queued or being written, and the transport is
writable, is written at once, synchronously: the writer task only runs when
frames must wait. The bounds apply as before to what waits.

A close is only as good as the peer's reading: the close frame waits behind
the peer's full TCP window like any frame. With ``on_stuck``, a close the
writer has not delivered ``close_timeout`` seconds after it was asked for
calls ``on_stuck`` (the endpoint aborts the transport there), so a peer that
neither reads nor leaves cannot hold the socket, the task or its fd.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .ws_direct import DirectChannel

__all__ = ["SLOW_CONSUMER", "AsgiSend", "SendQueue"]

AsgiSend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Close reason when pushes overflow a connection's queue (close code 1008).
SLOW_CONSUMER = "inspector.slow_consumer"

_log = logging.getLogger(__name__)


class SendQueue:
    """Frames waiting to be written to one WebSocket, and the task writing them."""

    __slots__ = (
        "_close",
        "_close_timeout",
        "_closed",
        "_closing",
        "_direct",
        "_frames",
        "_gone_away",
        "_max_bytes",
        "_max_frames",
        "_on_give_up",
        "_on_stuck",
        "_queued_bytes",
        "_room",
        "_send",
        "_sending",
        "_stuck_timer",
        "_wakeup",
    )

    def __init__(
        self,
        send: AsgiSend,
        *,
        max_frames: int,
        max_bytes: int,
        on_give_up: Callable[[], None] | None = None,
        close_timeout: float = 10.0,
        on_stuck: Callable[[], None] | None = None,
    ) -> None:
        if max_frames < 1 or max_bytes < 1:
            raise ValueError("send queue limits must be positive")
        if close_timeout <= 0:
            raise ValueError("close_timeout must be positive")
        self._send = send
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._on_give_up = on_give_up
        self._close_timeout = close_timeout
        self._on_stuck = on_stuck
        self._stuck_timer: asyncio.TimerHandle | None = None
        # The writer is finished: close frame written, or the peer gone.
        self._closed = False
        self._frames: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._close: tuple[int, str] | None = None
        self._closing = False
        self._sending = False
        self._gone_away = False
        self._wakeup: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._direct: DirectChannel | None = None

    def use_direct(self, channel: DirectChannel) -> None:
        """Write through ``channel`` at once whenever no frame has to wait."""
        self._direct = channel

    def can_write_now(self) -> bool:
        """True when a frame would be written synchronously (nothing waits ahead of it)."""
        direct = self._direct
        return (
            direct is not None
            and not self._frames
            and not self._sending
            and not self._closing
            and direct.writable
        )

    def write_now(self, frame: bytes) -> None:
        """Write ``frame`` through the channel; only when ``can_write_now()``."""
        assert self._direct is not None
        if not self._direct.send_binary(frame):
            self._gone()

    @property
    def closing(self) -> bool:
        """True once a close was requested; later frames are discarded."""
        return self._closing

    def __len__(self) -> int:
        return len(self._frames)

    def offer(self, frame: bytes) -> None:
        """Queue a push; give the connection up if it does not fit."""
        if self._closing:
            return
        if self.can_write_now():
            self.write_now(frame)
            return
        if len(self._frames) >= self._max_frames or (
            self._frames and self._queued_bytes + len(frame) > self._max_bytes
        ):
            _log.warning(
                "inspector send queue overflow (%d frames, %d bytes): closing a slow consumer",
                len(self._frames),
                self._queued_bytes,
            )
            self.close(1008, SLOW_CONSUMER)
            if self._on_give_up is not None:
                self._on_give_up()
            return
        self._append(frame)

    def offer_first(self, frame: bytes) -> None:
        """Queue ``frame`` ahead of everything else (the ``Init`` frame)."""
        if self._closing:
            return
        self._frames.appendleft(frame)
        self._queued_bytes += len(frame)
        self._wake()

    async def put(self, frame: bytes) -> None:
        """Queue a reply, waiting for room when the peer reads slowly.

        When nothing is queued and nothing is being written, the reply is
        written right here instead: a request/response peer then costs no
        hop through the writer task (the hot path the bench measures).
        """
        if self.can_write_now():
            self.write_now(frame)
            return
        if not self._frames and not self._sending and not self._closing:
            self._sending = True
            try:
                await self._send({"type": "websocket.send", "bytes": frame})
            except (OSError, RuntimeError):
                self._gone()
            finally:
                self._sending = False
                if self._frames or self._closing:
                    self._wake()  # the writer yielded to us; hand back
            return
        while not self._closing and (
            len(self._frames) >= self._max_frames
            or (self._frames and self._queued_bytes + len(frame) > self._max_bytes)
        ):
            room = self._room
            if room is None or room.done():
                room = self._room = asyncio.get_running_loop().create_future()
            await room
        if not self._closing:
            self._append(frame)

    def put_nowait(self, frame: bytes) -> None:
        """Queue a reply that cannot wait for room (one answer already computed).

        The direct path uses it when a push its request caused had to queue:
        the answer goes behind the push, and the requests after it wait in
        the session's backlog, where ``put`` bounds them again.
        """
        if not self._closing:
            self._append(frame)

    def close(self, code: int, reason: str) -> None:
        """Drop what is pending and make the writer close with ``code``."""
        if self._closing:
            return
        self._close = (code, reason)
        self._drop_pending()
        if self._on_stuck is not None:
            loop = asyncio.get_running_loop()
            self._stuck_timer = loop.call_later(self._close_timeout, self._check_stuck)

    def _check_stuck(self) -> None:
        self._stuck_timer = None
        if not self._closed and self._on_stuck is not None:
            self._on_stuck()

    async def run(self) -> None:
        """Write queued frames until a close is requested or the peer is gone."""
        frames = self._frames
        send = self._send
        try:
            while not self._gone_away:
                if self._sending:
                    # ``put`` is writing a reply directly; it wakes us after.
                    await self._wait()
                elif frames:
                    frame = frames.popleft()
                    self._queued_bytes -= len(frame)
                    room = self._room
                    if room is not None and not room.done():
                        room.set_result(None)
                    self._sending = True
                    try:
                        await send({"type": "websocket.send", "bytes": frame})
                    finally:
                        self._sending = False
                elif self._close is not None:
                    code, reason = self._close
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                else:
                    await self._wait()
        except (OSError, RuntimeError):
            self._gone()
        finally:
            self._closed = True
            if self._stuck_timer is not None:
                self._stuck_timer.cancel()
                self._stuck_timer = None

    def _gone(self) -> None:
        # The peer went away (uvicorn raises ClientDisconnected, an OSError)
        # or the server already sent its own close (a 1009 from the frame
        # parser makes a later send a RuntimeError): no one is left to write to.
        self._gone_away = True
        self._drop_pending()

    def _drop_pending(self) -> None:
        # Closing either way: queued frames are dropped, and the writer and
        # any ``put`` waiting for room are woken to see it.
        self._closing = True
        self._frames.clear()
        self._queued_bytes = 0
        self._wake()
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)

    async def _wait(self) -> None:
        wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        await wakeup

    def _append(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._queued_bytes += len(frame)
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
