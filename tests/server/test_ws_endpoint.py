"""The inspector WebSocket endpoint over a real uvicorn server and a fake actor.

These tests pin the transport itself — negotiation, framing, bad input,
oversize frames, fan-out and slow consumers — against an in-memory
``ActorInspector``, so they need nothing but the endpoint, the protocol
package and uvicorn. The end-to-end acceptance tests against the real actor
system live in ``test_ws_inspector.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.history import decode_history
from actorscope.protocol.messages import (
    ActionRequest,
    ActionResponse,
    ConnectionsUpdated,
    Error,
    Init,
    PatchStateRequest,
    QueueUpdated,
    StateRequest,
    StateResponse,
    StateUpdated,
    ToServer,
    WorkflowHistoryUpdated,
    WorkflowReplayRequest,
)
from actorscope.server.inspector_api import (
    ConnectionInfo,
    ConnectionsChanged,
    HistoryChanged,
    QueueChanged,
    StateChanged,
)

from .ws_endpoint_fakes import (
    ACTOR_TOKEN,
    SERVER_TOKEN,
    TIMEOUT,
    ClosedWith,
    FakeSnapshot,
    Server,
    recv,
    recv_msg,
    serve,
    subprotocols,
    ws,
)


@pytest.fixture
async def srv() -> AsyncIterator[Server]:
    async with serve() as server:
        yield server


async def test_embedded_mode_follows_the_peer_version(srv: Server) -> None:
    async with ws(srv) as conn:
        assert conn.subprotocol == "rivet"
        init = await recv(conn)
        assert init[:2] == b"\x04\x00"  # v4 before the peer spoke (§9.8)
        await conn.send(encode_to_server(ToServer(StateRequest(id=7)), 2))
        reply = await recv(conn)
        assert reply[:2] == b"\x02\x00"
        _, message = decode_to_client(reply)
        assert message.body == StateResponse(
            rid=7, state=msgpack.packb({"count": 0}), is_state_enabled=True
        )
        await conn.send(encode_to_server(ToServer(StateRequest(id=8)), 4))
        assert (await recv(conn))[:2] == b"\x04\x00"


async def test_negotiated_v1_gets_a_v1_init_and_bare_payloads(srv: Server) -> None:
    async with ws(srv, "?protocol_version=1") as conn:
        init = await recv(conn)
        assert init[0] == 9  # Init is tag 9 in v1 ToClientBody
        _, message = decode_to_client(init, 1)
        assert isinstance(message.body, Init)
        assert message.body.state == msgpack.packb({"count": 0})
        await conn.send(encode_to_server(ToServer(StateRequest(id=3)), 1, prefix=False))
        assert (await recv_msg(conn, 1)).rid == 3


@pytest.mark.parametrize("value", ["", "x", "0", "7", "65536", "-1", "+4", "%204", "1.0"])
async def test_invalid_protocol_version_closes_1002(
    srv: Server, value: str, closed_with: ClosedWith
) -> None:
    async with ws(srv, f"?protocol_version={value}") as conn:
        assert await closed_with(conn) == (1002, "inspector.invalid_protocol_version")


async def test_version_above_the_cap_closes_1002(closed_with: ClosedWith) -> None:
    async with serve(max_protocol_version=3) as srv, ws(srv, "?protocol_version=4") as conn:
        assert await closed_with(conn) == (1002, "inspector.invalid_protocol_version")


async def test_capped_server_refuses_v4_replay_and_keeps_serving() -> None:
    async with serve(max_protocol_version=3) as srv, ws(srv) as conn:
        assert (await recv(conn))[:2] == b"\x03\x00"
        await conn.send(encode_to_server(ToServer(WorkflowReplayRequest(id=1, entry_id="e1")), 4))
        reply = await recv(conn)
        assert reply[:2] == b"\x03\x00"  # answered at the cap, never above
        _, message = decode_to_client(reply)
        assert message.body == Error("inspector.workflow_replay_unsupported")
        await conn.send(encode_to_server(ToServer(StateRequest(id=2)), 4))
        assert (await recv_msg(conn)).rid == 2
    assert srv.actor.history == ["one", "two"]  # nothing was replayed


@pytest.mark.parametrize(
    ("query", "frame"),
    [
        ("", b"\x04"),  # too short for the u16 version
        ("", b"\x09\x00\x01\x00"),  # unknown version 9
        ("", b"\x04\x00\x7f"),  # unknown tag
        ("", b"\x04\x00\x01"),  # truncated StateRequest
        ("", b"\x04\x00\x01\x00\x00"),  # trailing byte
        ("?protocol_version=2", b"\x08\x00"),  # v2 has no tag 8
        ("?protocol_version=4", b"\x01\x80"),  # truncated varint
        ("", bytes(range(256)) * 8),  # garbage
    ],
)
async def test_bad_frames_answer_invalid_frame_and_keep_serving(
    srv: Server, query: str, frame: bytes
) -> None:
    version = int(query.rpartition("=")[2]) if query else None
    async with ws(srv, query) as conn:
        await recv(conn)
        await conn.send(frame)
        error = await recv_msg(conn, version)
        assert isinstance(error, Error)
        assert error.message.startswith("inspector.invalid_frame: ")
        request = encode_to_server(ToServer(StateRequest(id=5)), version or 4, prefix=not query)
        await conn.send(request)
        assert (await recv_msg(conn, version)).rid == 5


async def test_text_frames_are_invalid_frames(srv: Server) -> None:
    async with ws(srv) as conn:
        await recv(conn)
        await conn.send("hello")
        error = await recv_msg(conn)
        assert error == Error("inspector.invalid_frame: text frames are not supported")


async def test_two_mib_frame_closes_1009(srv: Server, closed_with: ClosedWith) -> None:
    async with ws(srv, max_size=None) as conn:
        await recv(conn)
        await conn.send(b"\x04\x00" + bytes(2 << 20))
        code, _ = await closed_with(conn)
        assert code == 1009


async def test_endpoint_enforces_1_mib_even_when_the_server_allows_more(
    closed_with: ClosedWith,
) -> None:
    async with serve(ws_max_size=4 << 20) as srv, ws(srv) as conn:
        await recv(conn)
        await conn.send(b"\x04\x00" + bytes(1 << 20))
        assert await closed_with(conn) == (1009, "inspector.frame_too_large")


async def test_refusals_become_error_frames(srv: Server) -> None:
    async with ws(srv) as conn:
        await recv(conn)
        args = msgpack.packb([1])
        await conn.send(encode_to_server(ToServer(ActionRequest(id=1, name="nope", args=args)), 4))
        assert await recv_msg(conn) == Error("actor.action_not_found: no action 'nope'")
        await conn.send(encode_to_server(ToServer(WorkflowReplayRequest(id=2, entry_id="busy")), 4))
        error = await recv_msg(conn)
        assert error == Error("workflow.replay_in_flight: step 'two' is running")
        bad = encode_to_server(ToServer(PatchStateRequest(state=b"\xc1")), 4)
        await conn.send(bad)
        error = await recv_msg(conn)
        assert isinstance(error, Error)
        assert error.message.startswith("request.invalid: ")
        await conn.send(
            encode_to_server(ToServer(ActionRequest(id=3, name="increment", args=args)), 4)
        )
        bodies = [await recv_msg(conn), await recv_msg(conn)]
        assert ActionResponse(rid=3, output=msgpack.packb(1)) in bodies
        assert StateUpdated(state=msgpack.packb({"count": 1})) in bodies


async def test_pushes_reach_every_inspector_at_its_version(srv: Server) -> None:
    async with ws(srv, "?protocol_version=1") as v1, ws(srv) as v4:
        await recv(v1)
        await recv(v4)
        srv.actor.emit(QueueChanged(3))
        srv.actor.emit(HistoryChanged(FakeSnapshot(["one"])))  # type: ignore[arg-type]
        srv.actor.emit(ConnectionsChanged([ConnectionInfo("c2", None)]))
        srv.actor.emit(StateChanged({"count": 9}))
        assert await recv_msg(v4) == QueueUpdated(queue_size=3)
        history = await recv_msg(v4)
        assert isinstance(history, WorkflowHistoryUpdated)
        assert [e.id for e in decode_history(history.history).entries] == ["e0"]
        assert isinstance(await recv_msg(v4), ConnectionsUpdated)
        assert await recv_msg(v4) == StateUpdated(state=msgpack.packb({"count": 9}))
        # The v1 peer never sees the pushes v1 cannot carry (PROTOCOL.md §5).
        assert isinstance(await recv_msg(v1, 1), ConnectionsUpdated)
        assert await recv_msg(v1, 1) == StateUpdated(state=msgpack.packb({"count": 9}))
    await asyncio.sleep(0.1)
    assert srv.actor.listeners == []  # the last one out unsubscribed


@pytest.mark.parametrize(
    ("path", "protocols", "headers", "expected"),
    [
        ("/gateway/a1/inspector/connect", [], {}, "inspector.unauthorized"),
        (
            "/gateway/a1/inspector/connect",
            ["rivet_inspector_token.wrong"],
            {},
            "inspector.unauthorized",
        ),
        ("/gateway/nope/inspector/connect", [], {}, "inspector.unauthorized"),
        (
            "/gateway/nope/inspector/connect",
            [f"rivet_inspector_token.{ACTOR_TOKEN}"],
            {},
            "inspector.unauthorized",
        ),
        (
            "/gateway/nope/inspector/connect",
            [f"rivet_inspector_token.{SERVER_TOKEN}"],
            {},
            "inspector.actor_not_found",
        ),
        (
            "/inspector/connect",
            ["rivet_actor.nope", f"rivet_inspector_token.{SERVER_TOKEN}"],
            {},
            "inspector.actor_not_found",
        ),
        (
            "/gateway/a1/inspector/connect",
            [],
            {"Authorization": "Basic x"},
            "inspector.unauthorized",
        ),
    ],
)
async def test_refused_handshakes_close_1008(
    srv: Server,
    path: str,
    protocols: list[str],
    headers: dict[str, str],
    expected: str,
    closed_with: ClosedWith,
) -> None:
    async with connect(
        srv.url + path,
        subprotocols=subprotocols("rivet", *protocols),
        additional_headers=headers,
        open_timeout=TIMEOUT,
    ) as conn:
        assert await closed_with(conn) == (1008, expected)


@pytest.mark.parametrize(
    ("protocols", "headers"),
    [
        (["rivet_actor.a1", f"rivet_inspector_token.{ACTOR_TOKEN}"], {}),
        (["rivet_actor.a1"], {"Authorization": f"Bearer {SERVER_TOKEN}"}),
    ],
)
async def test_subprotocol_addressing_and_bearer_auth(
    srv: Server, protocols: list[str], headers: dict[str, str]
) -> None:
    async with connect(
        srv.url + "/inspector/connect",
        subprotocols=subprotocols("rivet", *protocols),
        additional_headers=headers,
        open_timeout=TIMEOUT,
    ) as conn:
        assert conn.subprotocol == "rivet"
        assert isinstance(await recv_msg(conn), Init)


async def test_slow_consumer_is_closed_and_others_keep_working() -> None:
    # The slow peer reads nothing: its client stops reading after a message,
    # the kernel buffers fill, and its server-side queue overflows. Random
    # bytes, so that permessage-deflate cannot shrink the pushes.
    pushes = 400
    async with (
        serve(send_queue_limit=8, send_queue_bytes=1 << 16) as srv,
        ws(srv, max_queue=1) as slow,
        ws(srv) as fast,
    ):
        await recv(fast)
        for i in range(pushes):
            srv.actor.emit(StateChanged({"i": i, "blob": os.urandom(64 << 10)}))
            assert isinstance(await recv_msg(fast), StateUpdated)
        await fast.send(encode_to_server(ToServer(StateRequest(id=1)), 4))
        assert (await recv_msg(fast)).rid == 1
        # Reading now drains what was in flight, then the close frame.
        received = 0
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(slow.recv(), TIMEOUT)
                received += 1
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1008, "inspector.slow_consumer")
        assert received < pushes  # the overflowing pushes were dropped, not buffered
