"""WebSocket messages handed straight to the app, and its answers written straight back.

Through ASGI, every inspector request costs the server three trips round the
event loop: uvicorn parses the frame in ``data_received`` and queues it, the
app's task wakes to ``receive`` it, and its answer is written by a later
step. uvicorn also pauses reading after every message and resumes it on the
next ``receive`` — two more system calls per request. For a peer that sends
one request and waits (the sequential round trip), that loop overhead was
most of the server's time (``bench/peer``).

``DirectWebSocketProtocol`` offers the app a shortcut through the ASGI
scope's extensions (``DIRECT_EXTENSION``): ``attach(sink)`` returns a
``DirectChannel``; the messages that arrived before are in its
``take_queued()``, and from then on every complete message is given to
``sink.message_received`` synchronously, inside ``data_received``, instead
of going into uvicorn's queue. The sink may answer at once with
``DirectChannel.send_binary``; with ``ws_transport``'s held writes the
answer leaves in the same ``send`` as any other written during that read.

What stays as ASGI defines it: the handshake, ``websocket.disconnect``
(the app still awaits ``receive`` to learn the peer left), ``websocket.send``
and ``websocket.close``. The sink owns flow control while attached: it calls
``pause_reading`` when it cannot keep up (an answer it could not write, an
asynchronous request) and ``resume_reading`` once it has caught up. Under
another ASGI server the extension is absent and the app reads as usual.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from websockets.exceptions import InvalidState
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request

from .ws_frames import DirectFrames, binary_frame
from .ws_transport import CoalescingTransport, CoalescingWebSocketProtocol

__all__ = [
    "DIRECT_EXTENSION",
    "DirectChannel",
    "DirectWebSocketProtocol",
    "MessageSink",
    "attach_from_scope",
]

#: ASGI scope extension holding ``{"attach": fn}`` (``fn(sink) -> DirectChannel``).
DIRECT_EXTENSION = "actorscope.direct"

_log = logging.getLogger("actorscope.server")


class MessageSink(Protocol):
    """What ``attach`` delivers messages to."""

    def message_received(self, data: bytes | str) -> None:
        """One complete message; must not raise (it runs inside ``data_received``)."""


class DirectChannel(Protocol):
    """The protocol's side of an attached connection."""

    def take_queued(self) -> list[bytes | str]:
        """Messages that arrived before ``attach``, oldest first (the sink handles them first)."""

    @property
    def writable(self) -> bool:
        """False once the transport's buffer is over its high-water mark or the socket closed."""

    def send_binary(self, data: bytes) -> bool:
        """Write one binary message now; False if the connection can no longer send."""

    def pause_reading(self) -> None:
        """Stop delivering messages until ``resume_reading``."""

    def resume_reading(self) -> None:
        """Deliver messages again (a no-op unless paused by ``pause_reading``)."""


def attach_from_scope(
    scope: Mapping[str, Any],
) -> Callable[[MessageSink], DirectChannel] | None:
    """The ``attach`` the protocol put in ``scope``, or ``None`` (another server)."""
    extension = (scope.get("extensions") or {}).get(DIRECT_EXTENSION)
    attach = None if extension is None else extension.get("attach")
    return attach if callable(attach) else None


class DirectWebSocketProtocol(CoalescingWebSocketProtocol):
    """uvicorn's ``websockets-sansio`` protocol with the direct message path."""

    #: Messages longer than this take uvicorn's path (``uvicorn_protocols``
    #: closes with 1009 there); the subclass sets the server's limit.
    message_limit: int = sys.maxsize

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sink: MessageSink | None = None
        self.sink_paused_reading = False
        # Set on attach: reads and writes whole binary frames past
        # websockets' generators while its state allows (ws_frames.py).
        self.direct_frames: DirectFrames | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            # The ASGI task was created but has not run: it sees this.
            self.scope["extensions"][DIRECT_EXTENSION] = {"attach": self._attach}

    def _attach(self, sink: MessageSink) -> DirectChannel:
        # Messages uvicorn queued before the app attached must come first:
        # the channel keeps them for ``take_queued``; anything else in the
        # queue (a disconnect) stays there for receive().
        queued: list[bytes | str] = []
        others = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message["type"] == "websocket.receive":
                data: bytes | str | None = message.get("bytes")
                if data is None:
                    data = message.get("text")
                if data is not None:
                    queued.append(data)
            else:
                others.append(message)
        for message in others:
            self.queue.put_nowait(message)
        self._sink = sink
        self.direct_frames = DirectFrames.for_connection(self.conn, self.message_limit)
        if self.read_paused:
            # uvicorn paused reading for the messages it queued; they are taken.
            self.read_paused = False
            self.transport.resume_reading()
        return _Channel(self, queued)

    # -- delivery ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink is None:
            super().data_received(data)
            return
        # Attached: uvicorn's data_received and the coalescing layer's, in
        # one frame (each layer costs more in a sequential round trip, where
        # every request finds the caches cold, than the work itself).
        conn = self.conn
        transport = cast(CoalescingTransport, self.transport)
        transport.hold()
        try:
            frames = self.direct_frames
            if frames is not None and not self.close_sent:
                data = frames.receive(data, sink.message_received)
                if not data:
                    return
            conn.receive_data(data)
            if conn.parser_exc is not None:
                self.handle_parser_exception()
                return
            self._deliver(sink)
        finally:
            transport.release()

    def handle_events(self) -> None:
        sink = self._sink
        if sink is None:
            super().handle_events()
            return
        self._deliver(sink)

    def _deliver(self, sink: MessageSink) -> None:
        # A whole binary message is nearly every event once attached: it goes
        # to the sink without uvicorn's per-event dispatch and message assembly.
        limit = self.message_limit
        for event in self.conn.events_received():
            if (
                type(event) is Frame
                and event.opcode is Opcode.BINARY
                and event.fin
                and len(event.data) <= limit
                and not self.close_sent
            ):
                data = event.data
                sink.message_received(data if type(data) is bytes else bytes(data))
            else:
                self._handle_event(event)

    def _handle_event(self, event: Any) -> None:
        # uvicorn's dispatch (WebSocketsSansIOProtocol.handle_events), one event.
        if isinstance(event, Request):
            self.handle_connect(event)
        elif isinstance(event, Frame):
            opcode = event.opcode
            if opcode is Opcode.CONT:
                self.handle_cont(event)
            elif opcode is Opcode.TEXT:
                self.handle_text(event)
            elif opcode is Opcode.BINARY:
                self.handle_bytes(event)
            elif opcode is Opcode.PING:
                self.handle_ping()
            elif opcode is Opcode.PONG:
                self.handle_pong(event)
            elif opcode is Opcode.CLOSE:
                self.handle_close(event)

    def send_receive_event_to_app(self) -> None:
        sink = self._sink
        if sink is None:
            super().send_receive_event_to_app()
            return
        frames, self.frames = self.frames, []
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        if self.close_sent:
            return  # past our close: drained, as uvicorn does
        if self.curr_msg_data_type == "text":
            try:
                text = data.decode()
            except UnicodeDecodeError:
                self.conn.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
                self.handle_parser_exception()
                return
            sink.message_received(text)
        else:
            sink.message_received(data)


class _Channel:
    """``DirectChannel`` over one ``DirectWebSocketProtocol``."""

    __slots__ = ("_protocol", "_queued")

    def __init__(self, protocol: DirectWebSocketProtocol, queued: list[bytes | str]) -> None:
        self._protocol = protocol
        self._queued = queued

    def take_queued(self) -> list[bytes | str]:
        queued, self._queued = self._queued, []
        return queued

    @property
    def writable(self) -> bool:
        protocol = self._protocol
        return protocol.writable.is_set() and not protocol.close_sent and not protocol.disconnected

    def send_binary(self, data: bytes) -> bool:
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return False
        frames = protocol.direct_frames
        if frames is not None and frames.can_send():
            protocol.transport.write(binary_frame(data))
            return True
        try:
            protocol.conn.send_binary(data)
        except InvalidState:
            return False
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        return True

    def pause_reading(self) -> None:
        protocol = self._protocol
        if not protocol.sink_paused_reading and not protocol.disconnected:
            protocol.sink_paused_reading = True
            protocol.transport.pause_reading()

    def resume_reading(self) -> None:
        protocol = self._protocol
        if protocol.sink_paused_reading:
            protocol.sink_paused_reading = False
            if not protocol.disconnected:
                protocol.transport.resume_reading()
