"""The value codec on the inspector wire (PROTOCOL.md §11): CBOR unless asked, per connection.

A real server and real ``websockets`` clients: the default is CBOR with no
flag (what RivetKit's Inspector decodes), ``?value_codec=msgpack`` asks for
MessagePack per connection, the server default can be MessagePack, workflow
history values are re-encoded from storage, pushes go out in each peer's
codec, and the Python client asks for the codec it decodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
import httpx
import msgpack
import pytest
from actorscope.client import InspectorClient
from actorscope.protocol.framing import decode_to_client
from actorscope.protocol.history import WorkflowStepEntry, decode_history
from actorscope.protocol.messages import Init, StateUpdated, ToClient
from actorscope.protocol.values import MsgpackCodec
from actorscope.server.runner import RunningServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

TIMEOUT = 10.0
ClosedWith = Callable[[ClientConnection], Awaitable[tuple[int, str]]]
DECODERS: dict[str, Callable[[bytes], Any]] = {"cbor": cbor2.loads, "msgpack": msgpack.unpackb}


async def open_ws(server: RunningServer, actor_id: str, query: str = "") -> ClientConnection:
    assert server.server_token is not None
    return await connect(
        f"{server.ws_url}/gateway/{actor_id}/inspector/connect{query}",
        subprotocols=[
            Subprotocol("rivet"),
            Subprotocol(f"rivet_inspector_token.{server.server_token}"),
        ],
        open_timeout=TIMEOUT,
    )


async def next_body(conn: ClientConnection, kind: type[Any]) -> Any:
    while True:
        frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert isinstance(frame, bytes)
        _, message = decode_to_client(frame)
        assert isinstance(message, ToClient)
        if isinstance(message.body, kind):
            return message.body


async def wait_for_steps(server: RunningServer, actor_id: str) -> None:
    actor = server.directory.get(actor_id)
    assert actor is not None
    for _ in range(400):
        if len(actor.state()["timeline"]) >= 3:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the steps workflow did not run its steps")


def step_outputs(history_bytes: bytes, decode: Callable[[bytes], Any]) -> list[Any]:
    history = decode_history(history_bytes)
    return [
        decode(e.kind.output)
        for e in history.entries
        if isinstance(e.kind, WorkflowStepEntry) and e.kind.output is not None
    ]


@pytest.mark.parametrize(
    ("query", "codec"),
    [("", "cbor"), ("?value_codec=cbor", "cbor"), ("?value_codec=msgpack", "msgpack")],
    ids=["default", "cbor", "msgpack"],
)
async def test_init_values_come_in_the_codec_asked_for(
    server: RunningServer, demo_ids: dict[str, str], query: str, codec: str
) -> None:
    decode = DECODERS[codec]
    await wait_for_steps(server, demo_ids["steps"])
    async with await open_ws(server, demo_ids["counter"], query) as conn:
        init = await next_body(conn, Init)
        assert decode(init.state) == {"count": 0}
    async with await open_ws(server, demo_ids["steps"], query) as conn:
        init = await next_body(conn, Init)
        assert decode(init.state) == {"timeline": ["one", "two", "three"]}
        # Values inside the history are re-encoded from storage, not passed through.
        assert init.workflow_history is not None
        assert step_outputs(init.workflow_history, decode) == ["one", "two", "three"]


async def test_each_connection_gets_pushes_in_its_own_codec(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    counter = demo_ids["counter"]
    async with (
        await open_ws(server, counter) as cbor_peer,
        await open_ws(server, counter, "?value_codec=msgpack") as msgpack_peer,
    ):
        await next_body(cbor_peer, Init)
        await next_body(msgpack_peer, Init)
        async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
            r = await http.post(
                f"/gateway/{counter}/inspector/action/increment", json={"args": [5]}
            )
            assert r.json() == {"output": 5}
        assert cbor2.loads((await next_body(cbor_peer, StateUpdated)).state) == {"count": 5}
        pushed = (await next_body(msgpack_peer, StateUpdated)).state
        assert msgpack.unpackb(pushed) == {"count": 5}


@pytest.mark.parametrize(
    "query", ["?value_codec=json", "?value_codec=", "?value_codec=cbor&value_codec=msgpack"]
)
async def test_an_unknown_codec_closes_1002(
    server: RunningServer, demo_ids: dict[str, str], closed_with: ClosedWith, query: str
) -> None:
    conn = await open_ws(server, demo_ids["counter"], query)
    assert await closed_with(conn) == (1002, "inspector.invalid_value_codec")


async def test_a_server_can_default_to_msgpack(server_factory: Any) -> None:
    server = await server_factory(value_codec=MsgpackCodec())
    counter = server.directory.actors("counter")[0].actor_id
    async with await open_ws(server, counter) as conn:
        assert msgpack.unpackb((await next_body(conn, Init)).state) == {"count": 0}
    async with await open_ws(server, counter, "?value_codec=cbor") as conn:
        assert cbor2.loads((await next_body(conn, Init)).state) == {"count": 0}


async def test_a_bad_value_from_the_peer_is_an_error_frame_not_a_crash(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    from actorscope.protocol.framing import encode_to_server
    from actorscope.protocol.messages import (
        ActionRequest,
        ActionResponse,
        Error,
        PatchStateRequest,
        StateRequest,
        StateResponse,
        ToServer,
    )

    async with await open_ws(server, demo_ids["counter"]) as conn:
        await next_body(conn, Init)

        async def send(body: Any) -> None:
            await conn.send(encode_to_server(ToServer(body), 4))

        # A CBOR date (tag 1) and a value too big for storage (a 70-bit int).
        await send(ActionRequest(id=1, name="increment", args=bytes.fromhex("81c11a5f5e1000")))
        error = await next_body(conn, Error)
        assert error.message.startswith("request.invalid: args is not a valid value")
        await send(PatchStateRequest(state=cbor2.dumps({"count": 2**70})))
        error = await next_body(conn, Error)
        assert error.message.startswith("request.invalid: state is not serializable")
        # The connection is still good, and the state untouched.
        await send(StateRequest(id=2))
        assert cbor2.loads((await next_body(conn, StateResponse)).state) == {"count": 0}
        await send(ActionRequest(id=3, name="increment", args=cbor2.dumps([2])))
        assert cbor2.loads((await next_body(conn, ActionResponse)).output) == 2


@pytest.mark.parametrize("codec", [None, MsgpackCodec()], ids=["default-cbor", "msgpack"])
async def test_the_python_client_asks_for_what_it_decodes(
    server: RunningServer, demo_ids: dict[str, str], codec: Any
) -> None:
    await wait_for_steps(server, demo_ids["steps"])
    async with InspectorClient(
        server.url, demo_ids["steps"], server.server_token, codec=codec
    ) as client:
        expected = "msgpack" if codec is not None else "cbor"
        assert f"value_codec={expected}" in client.url
        assert await client.state() == {"timeline": ["one", "two", "three"]}
        assert await client.action("get_timeline") == ["one", "two", "three"]


async def test_an_output_the_peer_codec_cannot_carry_is_a_clear_error(server_factory: Any) -> None:
    from actorscope.protocol.framing import encode_to_server
    from actorscope.protocol.messages import ActionRequest, ActionResponse, Error, ToServer
    from actorscope.server.definitions import ActorDefinition, Registry

    # MessagePack stores a map keyed by a tuple; CBOR values here have no such form.
    registry = Registry([ActorDefinition("odd", None, {"odd": lambda ctx: {(1, 2): "x"}})])
    server = await server_factory(registry=registry)
    actor = server.directory.actors("odd")[0].actor_id
    async with await open_ws(server, actor) as conn:
        await next_body(conn, Init)
        await conn.send(
            encode_to_server(ToServer(ActionRequest(id=1, name="odd", args=cbor2.dumps([]))), 4)
        )
        error = await next_body(conn, Error)
        assert error.message.startswith(
            "actor.action_failed: odd: ValueError: value has no CBOR form"
        )
    async with await open_ws(server, actor, "?value_codec=msgpack") as conn:
        await next_body(conn, Init)
        args = msgpack.packb([])
        await conn.send(encode_to_server(ToServer(ActionRequest(id=2, name="odd", args=args)), 4))
        reply = await next_body(conn, ActionResponse)
        assert reply.rid == 2


async def test_serve_value_codec_flag(serve_process: Any) -> None:
    running = await serve_process("--demo", "--dev", "--value-codec", "msgpack")
    counter = running.actors["counter/demo"]
    ws_url = running.url.replace("http", "ws", 1)
    for query, decode in (("", msgpack.unpackb), ("?value_codec=cbor", cbor2.loads)):
        url = f"{ws_url}/gateway/{counter}/inspector/connect{query}"
        async with await connect(url, open_timeout=TIMEOUT) as conn:
            assert decode((await next_body(conn, Init)).state) == {"count": 0}
