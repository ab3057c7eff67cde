"""The frame shortcut (``server/ws_frames.py``) against websockets' own sans-I/O protocol.

A connection read through ``DirectFrames.receive`` (then websockets for the
rest) must end up exactly where websockets alone would: the same messages in
the same order, the same protocol errors, the same bytes to send, the same
state. The frames mix what the shortcut takes with everything it must leave
to websockets, cut into arbitrary reads.
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from actorscope.server.ws_frames import DirectFrames, binary_frame

#: websockets' own size limit in these tests, and the app's (lower) one.
MAX_SIZE = 400
APP_LIMIT = 300


def open_server(**kwargs: Any) -> ServerProtocol:
    """A server-side protocol past a real handshake, ready for frames."""
    client = ClientProtocol(parse_uri("ws://127.0.0.1/"), **kwargs.pop("client", {}))
    server = ServerProtocol(max_size=MAX_SIZE, **kwargs)
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    server.data_to_send()
    assert server.state is OPEN
    return server


def client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, first: int | None = None, masked: bool = True
) -> bytes:
    """A frame as a client sends it; ``first`` overrides the first header byte (bad bits)."""
    raw = Frame(Opcode(opcode), payload, fin).serialize(mask=masked, extensions=[])
    return raw if first is None else bytes((first,)) + raw[1:]


def zero_masked(payload: bytes) -> bytes:
    """A binary frame with an all-zero mask: its payload is on the wire as is."""
    assert len(payload) < 126
    return bytes((0x82, 0x80 | len(payload))) + bytes(4) + payload


payloads = st.one_of(
    st.binary(max_size=140),  # around the 7-bit / 16-bit length boundary
    st.integers(min_value=APP_LIMIT - 2, max_value=MAX_SIZE + 2).map(os.urandom),
)

frames = st.one_of(
    payloads.map(lambda p: client_frame(Opcode.BINARY, p)),
    payloads.map(lambda p: client_frame(Opcode.BINARY, p)),
    st.binary(max_size=20).map(lambda p: client_frame(Opcode.TEXT, b"t" + p.hex().encode())),
    st.binary(max_size=20).map(lambda p: client_frame(Opcode.PING, p)),
    st.binary(max_size=20).map(lambda p: client_frame(Opcode.PONG, p)),
    # A fragmented binary message: first part, then its continuation.
    st.tuples(st.binary(max_size=30), st.binary(max_size=30)).map(
        lambda parts: (
            client_frame(Opcode.BINARY, parts[0], fin=False) + client_frame(Opcode.CONT, parts[1])
        )
    ),
    # A fragmented message left open: the next data frame is an error.
    st.binary(max_size=10).map(lambda p: client_frame(Opcode.BINARY, p, fin=False)),
    # What websockets refuses: a stray continuation, reserved bits, no mask.
    st.binary(max_size=10).map(lambda p: client_frame(Opcode.CONT, p)),
    st.binary(max_size=10).map(lambda p: client_frame(Opcode.BINARY, p, first=0xC2)),
    st.binary(max_size=10).map(lambda p: client_frame(Opcode.BINARY, p, masked=False)),
    st.just(client_frame(Opcode.CLOSE, b"\x03\xe8bye")),
)


def events_of(conn: ServerProtocol) -> list[tuple[Any, ...]]:
    return [
        (event.opcode, bytes(event.data), event.fin) if isinstance(event, Frame) else event
        for event in conn.events_received()
    ]


def outcome(conn: ServerProtocol) -> tuple[Any, ...]:
    exc = conn.parser_exc
    return (
        conn.state,
        None if exc is None else (type(exc), str(exc)),
        b"".join(conn.data_to_send()),
        conn.close_rcvd,
    )


def read_plain(stream: bytes, cuts: list[int]) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    conn = open_server()
    seen: list[tuple[Any, ...]] = []
    for chunk in split(stream, cuts):
        conn.receive_data(chunk)
        seen += events_of(conn)
    return seen, outcome(conn)


def read_direct(stream: bytes, cuts: list[int]) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    conn = open_server()
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    seen: list[tuple[Any, ...]] = []

    def deliver(payload: bytes) -> None:
        seen.append((Opcode.BINARY, payload, True))

    for chunk in split(stream, cuts):
        rest = frames.receive(chunk, deliver)
        if rest:
            conn.receive_data(rest)
        seen += events_of(conn)
    return seen, outcome(conn)


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(frames, max_size=12).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
)
# A header alone in one read: the parser waits mid-frame with nothing buffered.
@example(client_frame(Opcode.BINARY, b"abc") * 2, [2, 6])
@example(client_frame(Opcode.BINARY, b"x" * 200) * 2, [4])
# A read that starts with a payload that looks like a frame, mid-frame.
@example(zero_masked(client_frame(Opcode.BINARY, b"inner")), [6])
# A whole binary frame while a fragmented message is open.
@example(client_frame(Opcode.BINARY, b"a", fin=False) + client_frame(Opcode.BINARY, b"b"), [7])
def test_direct_reads_end_where_websockets_does(stream: bytes, cuts: list[int]) -> None:
    assert read_direct(stream, cuts) == read_plain(stream, cuts)


def test_frames_past_the_app_limit_are_left_to_websockets() -> None:
    conn = open_server()
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    small, big = client_frame(Opcode.BINARY, b"s"), client_frame(Opcode.BINARY, b"b" * 301)
    taken: list[bytes] = []
    rest = frames.receive(small + big + small, taken.append)
    assert taken == [b"s"]
    assert rest == big + small  # the app's path closes with 1009 on the big one


def test_whole_reads_are_taken_without_websockets() -> None:
    conn = open_server()
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    taken: list[bytes] = []
    stream = b"".join(client_frame(Opcode.BINARY, b"m" * n) for n in (0, 4, 125, 126, 299))
    assert frames.receive(stream, taken.append) == b""
    assert taken == [b"m" * n for n in (0, 4, 125, 126, 299)]
    assert conn.events_received() == []


def test_installed_websockets_has_the_shape_the_shortcut_needs() -> None:
    # Should an upgrade change websockets' internals, every connection would
    # quietly take the slow path: this says so instead.
    assert DirectFrames.for_connection(open_server(), APP_LIMIT) is not None
    client = ClientProtocol(parse_uri("ws://127.0.0.1/"))
    assert DirectFrames.for_connection(client, APP_LIMIT) is None


def test_binary_frame_is_what_websockets_writes() -> None:
    for length in (0, 1, 125, 126, 127, 4000, 65535, 65536, 70000):
        payload = os.urandom(length)
        conn = open_server()
        frames = DirectFrames.for_connection(conn, APP_LIMIT)
        assert frames is not None and frames.can_send()
        conn.send_binary(payload)
        assert binary_frame(payload) == b"".join(conn.data_to_send())


def test_can_send_only_when_send_binary_would_write_just_the_frame() -> None:
    conn = open_server()
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    conn.send_ping(b"p")  # written first by websockets: order matters
    assert not frames.can_send()
    conn.data_to_send()
    conn.send_binary(b"part", fin=False)
    conn.data_to_send()
    assert not frames.can_send()
    conn.send_continuation(b"end", fin=True)
    conn.data_to_send()
    assert frames.can_send()
    conn.send_close()
    assert not frames.can_send()


def test_a_connection_logging_every_frame_takes_websockets_path() -> None:
    logger = logging.getLogger("test_ws_frames.debug")
    logger.setLevel(logging.DEBUG)
    conn = open_server(logger=logger)
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    raw = client_frame(Opcode.BINARY, b"abc")
    assert frames.receive(raw, lambda payload: None) == raw
    assert not frames.can_send()


def test_compressed_connections_take_websockets_path() -> None:
    conn = open_server(
        extensions=[ServerPerMessageDeflateFactory()],
        client={"extensions": [ClientPerMessageDeflateFactory()]},
    )
    assert conn.extensions
    frames = DirectFrames.for_connection(conn, APP_LIMIT)
    assert frames is not None
    assert not frames.idle() and not frames.can_send()
    raw = client_frame(Opcode.BINARY, b"abc")
    assert frames.receive(raw, lambda payload: None) == raw
