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
  throttled by TCP instead of being disconnected.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["SLOW_CONSUMER", "AsgiSend", "SendQueue"]

AsgiSend = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Close reason when pushes overflow a connection's queue (close code 1008).
SLOW_CONSUMER = "inspector.slow_consumer"

_log = logging.getLogger(__name__)


class SendQueue:
    """Frames waiting to be written to one WebSocket, and the task writing them."""

    __slots__ = (
        "_close",
        "_closing",
        "_frames",
        "_gone_away",
        "_max_bytes",
        "_max_frames",
        "_on_give_up",
        "_queued_bytes",
        "_room",
        "_send",
        "_sending",
        "_wakeup",
    )

    def __init__(
        self,
        send: AsgiSend,
        *,
        max_frames: int,
        max_bytes: int,
        on_give_up: Callable[[], None] | None = None,
    ) -> None:
        if max_frames < 1 or max_bytes < 1:
            raise ValueError("send queue limits must be positive")
        self._send = send
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._on_give_up = on_give_up
        self._frames: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._close: tuple[int, str] | None = None
        self._closing = False
        self._sending = False
        self._gone_away = False
        self._wakeup: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None

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

    def close(self, code: int, reason: str) -> None:
        """Drop what is pending and make the writer close with ``code``."""
        if self._closing:
            return
        self._close = (code, reason)
        self._drop_pending()

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
