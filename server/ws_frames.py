"""The common WebSocket frames, read and written without websockets' generators.

Nearly every frame an attached inspector connection carries (``ws_direct``)
is one small binary message: a client's masked, unfragmented binary frame
in, the server's unmasked one out. websockets' sans-I/O parser handles each
with a chain of generator-based coroutines (``Protocol.parse``,
``Frame.parse``, ``StreamReader.read_exact``) and builds a ``Frame`` for it;
in a sequential round trip, where every request finds the caches cold, that
was about 10 µs of the server's time before the answer could leave.

``DirectFrames.take`` takes such frames off the front of a read while websockets'
parser is idle between frames, with nothing buffered. It accepts exactly the
frames websockets would turn into one whole binary message at that point
(FIN set, no reserved bits, opcode binary, masked as RFC 6455 §5.1 requires
of a client, a payload within the connection's size limits) and unmasks them
with websockets' own ``apply_mask``; the first byte it does not accept, and
everything after it, goes to websockets as before, which finds its parser
exactly where it left it. So every frame is still checked, and any frame
websockets would refuse is refused by websockets.

``binary_frame`` is what websockets' ``Frame.serialize`` writes for a
server's unmasked, unfragmented binary frame (RFC 6455 §5.2);
``DirectFrames.can_send`` says when websockets' ``send_binary`` would write
just that (open, no extensions, no fragmented message being sent, nothing
of its own waiting to be sent first).

Both rely on how websockets' ``Protocol`` keeps its state (its parser
generator, ``reader``, ``current_size``, the size limits).
``DirectFrames.for_connection`` checks that shape and returns ``None`` if it
differs (another websockets release); the connection then takes websockets'
path throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.protocol import OPEN, SERVER, Protocol
from websockets.streams import StreamReader

try:  # websockets' C unmasking, as its own Frame.parse uses where it is built
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a websockets build without its C extension
    from websockets.utils import apply_mask

__all__ = ["DirectFrames", "binary_frame"]

# First header byte of a whole binary message: FIN, RSV1-3 clear, opcode 0x2.
_FIN_BINARY = 0x82
# Between frames of an open connection, websockets' Protocol.parse() waits in
# ``yield from reader.at_eof()`` (itself delegated to by ServerProtocol.parse());
# mid-frame it waits in ``read_exact``.
_AT_EOF = StreamReader.at_eof.__code__


class DirectFrames:
    """One connection's binary messages, read and written past websockets' generators."""

    __slots__ = ("_conn", "_max_size")

    def __init__(self, conn: Protocol, max_size: int) -> None:
        self._conn = conn
        self._max_size = max_size

    @classmethod
    def for_connection(cls, conn: Protocol, limit: int) -> DirectFrames | None:
        """A reader for ``conn``, or ``None`` if its state is not laid out as expected.

        ``limit`` is the app's own message limit; frames over it, or over
        websockets' ``max_message_size``/``max_fragment_size``, are left to
        websockets and the app's path so they fail as they always did.
        """
        parser: Any = getattr(conn, "parser", None)
        if (
            conn.side is not SERVER
            or getattr(parser, "gi_code", None) is None
            or not isinstance(getattr(conn, "reader", None), StreamReader)
            or not all(
                hasattr(conn, name)
                for name in (
                    "current_size",
                    "max_message_size",
                    "max_fragment_size",
                    "debug",
                    "expect_continuation_frame",
                    "writes",
                    "extensions",
                )
            )
        ):
            return None
        sizes = [limit, conn.max_message_size, conn.max_fragment_size]
        return cls(conn, min(size for size in sizes if size is not None))

    def idle(self) -> bool:
        """Whether websockets' parser waits for a new frame with nothing buffered."""
        conn = self._conn
        if conn.state is not OPEN or conn.current_size is not None or conn.extensions or conn.debug:
            # Closing, inside a fragmented message, compressed, or logging every frame.
            return False
        inner: Any = conn.parser
        while (nested := inner.gi_yieldfrom) is not None:
            inner = nested
        # at_eof() only waits with nothing buffered and the stream not ended.
        return inner.gi_code is _AT_EOF

    def receive(self, data: bytes, deliver: Callable[[bytes], None]) -> bytes:
        """Give ``deliver`` each whole binary message at the front of ``data``; return the rest.

        The rest (all of ``data`` when websockets' parser is not idle, ``b""``
        when every byte was taken) is websockets' to parse. Stops as soon as
        a delivery leaves the connection no longer idle (it was closed).
        """
        start = 0
        while self.idle() and (taken := self.take(data, start)) is not None:
            payload, start = taken
            deliver(payload)
        return data[start:] if start else data

    def take(self, data: bytes, start: int) -> tuple[bytes, int] | None:
        """The payload of the whole binary frame at ``data[start:]`` and the offset after it.

        ``None`` if the bytes there are not one whole frame this reader accepts
        (too short, another kind of frame, unmasked, too big): they are
        websockets' to parse. Call only while ``idle()``.
        """
        end = len(data)
        if end - start < 6 or data[start] != _FIN_BINARY:
            return None
        second = data[start + 1]
        if second < 0x80:
            return None  # unmasked: websockets fails the connection
        length = second & 0x7F
        head = start + 2
        if length == 126:
            if end - start < 8:
                return None
            length = (data[head] << 8) | data[head + 1]
            head += 2
        elif length == 127:
            return None  # over 64 KiB: rare enough for websockets' path
        if length > self._max_size:
            return None
        stop = head + 4 + length
        if stop > end:
            return None
        return apply_mask(data[head + 4 : stop], data[head : head + 4]), stop

    def can_send(self) -> bool:
        """Whether ``binary_frame(payload)`` is exactly what ``send_binary`` would write now."""
        conn = self._conn
        return (
            conn.state is OPEN
            and not conn.expect_continuation_frame
            and not conn.writes
            and not conn.extensions
            and not conn.debug
        )


def binary_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked binary frame, header and all."""
    length = len(payload)
    if length < 126:
        return bytes((_FIN_BINARY, length)) + payload
    if length < 1 << 16:
        return bytes((_FIN_BINARY, 126, length >> 8, length & 0xFF)) + payload
    return bytes((_FIN_BINARY, 127)) + length.to_bytes(8, "big") + payload
