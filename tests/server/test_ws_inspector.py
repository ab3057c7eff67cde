"""The inspector WebSocket endpoint end to end, against a real server.

A real actorscope server (``conftest.py``: demo registry, SQLite store,
uvicorn on 127.0.0.1, a free port) and real ``websockets`` clients:
every request of every version in both framing modes, the capped server,
replay of the ``steps`` demo, auth, bad input (PROTOCOL.md §1, §5, §6, §9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from actorscope.engine import WorkflowContext
from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.history import WorkflowHistory, decode_history
from actorscope.protocol.messages import (
    ActionRequest,
    ActionResponse,
    ConnectionsRequest,
    ConnectionsResponse,
    DatabaseSchemaRequest,
    DatabaseSchemaResponse,
    DatabaseTableRowsRequest,
    DatabaseTableRowsResponse,
    Error,
    Init,
    PatchStateRequest,
    QueueRequest,
    QueueResponse,
    RpcsListRequest,
    RpcsListResponse,
    ScheduleDeleteRequest,
    ScheduleDeleteResponse,
    ScheduleHistoryRequest,
    ScheduleHistoryResponse,
    SchedulesRequest,
    SchedulesResponse,
    StateRequest,
    StateResponse,
    StateUpdated,
    ToClient,
    ToServer,
    TraceQueryRequest,
    TraceQueryResponse,
    WorkflowHistoryRequest,
    WorkflowHistoryResponse,
    WorkflowHistoryUpdated,
    WorkflowReplayRequest,
    WorkflowReplayResponse,
)
from actorscope.protocol.versions import EMBEDDED_FIRST_VERSION, NEWEST_VERSION, VERSIONS, since
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.runner import RunningServer
from actorscope.server.schedule_api import ScheduleApi

TIMEOUT = 10.0
# The conftest fixture: await closed_with(conn) -> (close code, reason).
ClosedWith = Callable[[ClientConnection], Awaitable[tuple[int, str]]]
V1_EVENTS_TAG = 4
V1_CLEAR_EVENTS_TAG = 5
V1_INIT_TAG = 9


class Peer:
    """One inspector connection at a fixed version, negotiated or embedded."""

    def __init__(self, conn: ClientConnection, version: int, negotiated: bool) -> None:
        self.conn = conn
        self.version = version
        self.negotiated = negotiated
        self.pushes: list[Any] = []

    async def send(self, body: Any) -> None:
        frame = encode_to_server(ToServer(body), self.version, prefix=not self.negotiated)
        await self.conn.send(frame)

    async def send_raw_v1(self, tag: int, request_id: int) -> None:
        # v1-only requests have no newest-model form to encode from.
        payload = bytes([tag, request_id])
        await self.conn.send(payload if self.negotiated else b"\x01\x00" + payload)

    async def frame(self) -> bytes:
        frame = await asyncio.wait_for(self.conn.recv(), TIMEOUT)
        assert isinstance(frame, bytes)
        return frame

    async def message(self) -> Any:
        return (await self.versioned())[1]

    async def versioned(self) -> tuple[int, Any]:
        frame = await self.frame()
        version, message = decode_to_client(frame, self.version if self.negotiated else None)
        assert isinstance(message, ToClient)
        return version, message.body

    async def reply(self) -> Any:
        """The next response or Error, keeping the pushes that came first.

        Replies come at the peer's version; an embedded peer may see pushes
        at v4 (§9.8) from before its first frame.
        """
        while True:
            version, body = await self.versioned()
            if hasattr(body, "rid") or isinstance(body, Error):
                assert version == self.version
                return body
            self.pushes.append(body)


def inspector_url(server: RunningServer, actor_id: str, version: int | None = None) -> str:
    query = f"?protocol_version={version}" if version is not None else ""
    return f"{server.ws_url}/gateway/{actor_id}/inspector/connect{query}"


def subprotocols(*names: str) -> list[Subprotocol]:
    return [Subprotocol(name) for name in names]


def token_protocols(token: str) -> list[Subprotocol]:
    return subprotocols(
        "rivet", "rivet_target.actor", "rivet_encoding.bare", f"rivet_inspector_token.{token}"
    )


async def open_peer(
    server: RunningServer, actor_id: str, version: int = NEWEST_VERSION, negotiated: bool = False
) -> Peer:
    assert server.server_token is not None
    conn = await connect(
        inspector_url(server, actor_id, version if negotiated else None),
        subprotocols=token_protocols(server.server_token),
        open_timeout=TIMEOUT,
    )
    peer = Peer(conn, version, negotiated)
    if negotiated:
        assert isinstance(await peer.message(), Init)
    else:
        # Before the peer speaks, an embedded peer is answered at v4 or the
        # server's cap if lower (§9.8).
        version_sent, init = decode_to_client(await peer.frame())
        assert version_sent == min(EMBEDDED_FIRST_VERSION, server.config.max_protocol_version)
        assert isinstance(init.body, Init)
    return peer


def step_ids(history: WorkflowHistory) -> dict[str, str]:
    """Step name → entry id (a location's last segment names the entry)."""
    names = {}
    for entry in history.entries:
        last = entry.location[-1]
        if isinstance(last, int):
            names[history.name_registry[last]] = entry.id
    return names


async def wait_for_steps(server: RunningServer, actor_id: str, count: int) -> None:
    actor = server.directory.get(actor_id)
    assert actor is not None
    for _ in range(500):
        snapshot = await actor.workflow_history()
        if snapshot is not None and len(actor.state()["timeline"]) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the workflow did not run its steps")


# (request builder, actor, expected reply class); each runs from the version
# the table says its request exists since.
Case = tuple[Callable[[int], Any], str, type[Any]]
CASES: list[Case] = [
    (lambda i: StateRequest(id=i), "counter", StateResponse),
    (lambda i: ConnectionsRequest(id=i), "counter", ConnectionsResponse),
    (
        lambda i: ActionRequest(id=i, name="increment", args=cbor2.dumps([2])),
        "counter",
        ActionResponse,
    ),
    (lambda i: RpcsListRequest(id=i), "counter", RpcsListResponse),
    (
        lambda i: TraceQueryRequest(id=i, start_ms=0, end_ms=2**53, limit=100),
        "counter",
        TraceQueryResponse,
    ),
    (lambda i: QueueRequest(id=i, limit=10), "order", QueueResponse),
    (lambda i: WorkflowHistoryRequest(id=i), "steps", WorkflowHistoryResponse),
    (lambda i: DatabaseSchemaRequest(id=i), "inventory", DatabaseSchemaResponse),
    (
        lambda i: DatabaseTableRowsRequest(id=i, table="items", limit=10, offset=0),
        "inventory",
        DatabaseTableRowsResponse,
    ),
    (lambda i: WorkflowReplayRequest(id=i, entry_id=None), "steps", WorkflowReplayResponse),
    (lambda i: SchedulesRequest(id=i), "counter", SchedulesResponse),
    (
        lambda i: ScheduleHistoryRequest(id=i, schedule_id="tick", limit=0),
        "counter",
        ScheduleHistoryResponse,
    ),
    (
        lambda i: ScheduleDeleteRequest(id=i, schedule_id="gone", kind="at"),
        "counter",
        ScheduleDeleteResponse,
    ),
]


@pytest.mark.parametrize("negotiated", [True, False], ids=["negotiated", "embedded"])
@pytest.mark.parametrize("version", VERSIONS)
async def test_every_request_gets_its_response(
    server: RunningServer, demo_ids: dict[str, str], version: int, negotiated: bool
) -> None:
    await wait_for_steps(server, demo_ids["steps"], 3)
    counter_actor = server.directory.get(demo_ids["counter"])
    assert counter_actor is not None
    ScheduleApi(counter_actor.scheduler).every(3600, "increment", 1, name="tick")
    peers: dict[str, Peer] = {}
    try:
        for name, actor_id in demo_ids.items():
            peers[name] = await open_peer(server, actor_id, version, negotiated)
        counter = peers["counter"]
        await counter.send(PatchStateRequest(state=cbor2.dumps({"count": 40})))
        request_id = 1000 + version
        for build, actor, reply_class in CASES:
            if version < since(type(build(0)).__name__):
                continue
            request_id += 1
            peer = peers[actor]
            await peer.send(build(request_id))
            reply = await peer.reply()
            assert isinstance(reply, reply_class), reply
            assert reply.rid == request_id
            if reply_class is StateResponse:  # the patch came first
                assert cbor2.loads(reply.state) == {"count": 40}
            if reply_class is ActionResponse:
                assert cbor2.loads(reply.output) == 42
            if reply_class is DatabaseTableRowsResponse:
                rows = cbor2.loads(reply.result)
                assert [row["name"] for row in rows] == ["apple", "pear", "plum"]
            if reply_class is SchedulesResponse:
                assert [(s.id, s.kind, s.action) for s in reply.schedules] == [
                    ("tick", "every", "increment")
                ]
                assert cbor2.loads(reply.schedules[0].args) == [1]
            if reply_class is ScheduleHistoryResponse:
                assert reply.schedule_id == "tick" and reply.history == []
            if reply_class is ScheduleDeleteResponse:
                assert (reply.schedule_id, reply.deleted) == ("gone", False)
        if version == 1:
            for tag in (V1_EVENTS_TAG, V1_CLEAR_EVENTS_TAG):
                await counter.send_raw_v1(tag, 7)
                assert await counter.reply() == Error("inspector.events_dropped")
    finally:
        for peer in peers.values():
            await peer.conn.close()


async def test_v1_peer_gets_a_v1_init_and_v1_error_codes(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    assert server.server_token is not None
    async with connect(
        inspector_url(server, demo_ids["steps"], 1),
        subprotocols=token_protocols(server.server_token),
        open_timeout=TIMEOUT,
    ) as conn:
        init = await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert isinstance(init, bytes)
        assert init[0] == V1_INIT_TAG
        _, message = decode_to_client(init, 1)
        assert isinstance(message.body, Init)
        assert message.body.queue_size == 0  # v1 Init has no queue or workflow
        assert message.body.workflow_history is None
        peer = Peer(conn, 1, True)
        await peer.send_raw_v1(V1_EVENTS_TAG, 3)
        assert await peer.reply() == Error("inspector.events_dropped")


async def test_v3_capped_server_refuses_v4_replay_and_keeps_serving(
    server_factory: Callable[..., Any],
) -> None:
    server: RunningServer = await server_factory(max_protocol_version=3)
    steps = server.directory.actors("steps")[0].actor_id
    await wait_for_steps(server, steps, 3)
    peer = await open_peer(server, steps, 4)
    async with peer.conn:
        await peer.send(WorkflowReplayRequest(id=1, entry_id=None))
        frame = await peer.frame()
        assert frame[:2] == b"\x03\x00"  # a v3 server never emits v4
        _, message = decode_to_client(frame)
        assert message.body == Error("inspector.workflow_replay_unsupported")
        await peer.send(WorkflowHistoryRequest(id=2))
        peer.version = 3
        reply = await peer.reply()
        assert isinstance(reply, WorkflowHistoryResponse)
        assert reply.rid == 2
    actor = server.directory.get(steps)
    assert actor is not None
    assert actor.state()["timeline"] == ["one", "two", "three"]  # nothing replayed


async def test_replay_from_a_step_end_to_end(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    steps = demo_ids["steps"]
    await wait_for_steps(server, steps, 3)
    peer = await open_peer(server, steps)
    async with peer.conn:
        await peer.send(WorkflowHistoryRequest(id=1))
        current = await peer.reply()
        assert isinstance(current, WorkflowHistoryResponse) and current.history is not None
        ids = step_ids(decode_history(current.history))
        await peer.send(WorkflowReplayRequest(id=2, entry_id=ids["two"]))
        reply = await peer.reply()
        assert isinstance(reply, WorkflowReplayResponse)
        assert reply.rid == 2
        assert reply.is_workflow_enabled and reply.history is not None
        rewound = decode_history(reply.history)
        assert [e.id for e in rewound.entries] == [ids["one"]]
        # The re-run streams its progress: pushes until three is back.
        seen: list[dict[str, str]] = []
        timelines: list[list[str]] = []
        while "three" not in (seen[-1] if seen else {}):
            body = await peer.message()
            if isinstance(body, WorkflowHistoryUpdated):
                seen.append(step_ids(decode_history(body.history)))
            elif isinstance(body, StateUpdated):
                timelines.append(cbor2.loads(body.state)["timeline"])
        assert any("two" in s and "three" not in s for s in seen)
        # Each re-run step saves the state before it completes (demo ``_mark``).
        assert timelines[-1] == ["one", "two", "three", "two", "three"]
        await peer.send(ActionRequest(id=3, name="get_timeline", args=cbor2.dumps([])))
        timeline = await peer.reply()
        assert cbor2.loads(timeline.output) == ["one", "two", "three", "two", "three"]


async def test_replay_while_a_step_runs_is_refused(
    server_factory: Callable[..., Any],
) -> None:
    gate = asyncio.Event()
    started = asyncio.Event()

    async def blocked() -> str:
        started.set()
        await gate.wait()
        return "done"

    async def workflow(wf: WorkflowContext, actor: ActorContext) -> None:
        await wf.step("first", lambda: _value("first"))
        await wf.step("blocked", blocked)

    registry = Registry([ActorDefinition("slow", {"n": 0}, {}, workflow)])
    server: RunningServer = await server_factory(registry=registry)
    actor_id = server.directory.actors("slow")[0].actor_id
    await asyncio.wait_for(started.wait(), TIMEOUT)
    peer = await open_peer(server, actor_id)
    async with peer.conn:
        await peer.send(WorkflowReplayRequest(id=1, entry_id=None))
        error = await peer.reply()
        assert isinstance(error, Error)
        assert error.message.startswith("workflow.replay_in_flight: ")
        await peer.send(StateRequest(id=2))  # still serving
        assert (await peer.reply()).rid == 2
        gate.set()


async def _value(value: str) -> str:
    return value


async def recv_bytes(conn: ClientConnection) -> bytes:
    frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert isinstance(frame, bytes)
    return frame


@pytest.mark.parametrize("who", ["none", "wrong", "other-actor"])
async def test_bad_tokens_close_1008(
    server: RunningServer, demo_ids: dict[str, str], who: str, closed_with: ClosedWith
) -> None:
    other = server.directory.get(demo_ids["steps"])
    assert other is not None
    token = {"none": None, "wrong": "not-a-token", "other-actor": other.record.token}[who]
    protocols = subprotocols("rivet", *([f"rivet_inspector_token.{token}"] if token else []))
    async with connect(
        inspector_url(server, demo_ids["counter"]), subprotocols=protocols, open_timeout=TIMEOUT
    ) as conn:
        assert await closed_with(conn) == (1008, "inspector.unauthorized")


async def test_unknown_actor_needs_a_valid_token_to_be_told(
    server: RunningServer, closed_with: ClosedWith
) -> None:
    async with connect(inspector_url(server, "no-such-actor"), open_timeout=TIMEOUT) as conn:
        assert await closed_with(conn) == (1008, "inspector.unauthorized")
    assert server.server_token is not None
    async with connect(
        inspector_url(server, "no-such-actor"),
        subprotocols=token_protocols(server.server_token),
        open_timeout=TIMEOUT,
    ) as conn:
        assert await closed_with(conn) == (1008, "inspector.actor_not_found")


async def test_server_token_and_own_token_work(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    actor = server.directory.get(demo_ids["counter"])
    assert actor is not None and server.server_token is not None
    # The actor's own token, addressing by subprotocol as the official client does.
    async with connect(
        f"{server.ws_url}/inspector/connect",
        subprotocols=subprotocols(
            "rivet",
            "rivet_target.actor",
            f"rivet_actor.{actor.actor_id}",
            "rivet_encoding.bare",
            f"rivet_inspector_token.{actor.record.token}",
        ),
        open_timeout=TIMEOUT,
    ) as conn:
        assert conn.subprotocol == "rivet"
        _, init = decode_to_client(await recv_bytes(conn))
        assert isinstance(init.body, Init)
        assert init.body.state is not None
        assert cbor2.loads(init.body.state) == {"count": 0}
    # The server-wide token as a bearer header.
    async with connect(
        inspector_url(server, actor.actor_id),
        additional_headers={"Authorization": f"Bearer {server.server_token}"},
        open_timeout=TIMEOUT,
    ) as conn:
        _, init = decode_to_client(await recv_bytes(conn))
        assert isinstance(init.body, Init)


async def test_dev_mode_without_a_token_needs_no_auth(
    server_factory: Callable[..., Any],
) -> None:
    server: RunningServer = await server_factory(dev=True, server_token=None)
    counter = server.directory.actors("counter")[0].actor_id
    async with connect(
        inspector_url(server, counter), subprotocols=subprotocols("rivet"), open_timeout=TIMEOUT
    ) as conn:
        _, init = decode_to_client(await recv_bytes(conn))
        assert isinstance(init.body, Init)


@pytest.mark.parametrize(
    "frame",
    [b"\xde\xad\xbe\xef" * 64, b"\x04\x00\x01", b"\x07\x00\x01\x00", b"\x04\x00\x55"],
    ids=["garbage", "truncated", "unknown-version", "unknown-tag"],
)
async def test_bad_frames_keep_the_connection_usable(
    server: RunningServer, demo_ids: dict[str, str], frame: bytes
) -> None:
    # Before any good frame the Error goes out at v4, the embedded first version.
    peer = await open_peer(server, demo_ids["counter"], EMBEDDED_FIRST_VERSION)
    async with peer.conn:
        await peer.conn.send(frame)
        error = await peer.reply()
        assert isinstance(error, Error)
        assert error.message.startswith("inspector.invalid_frame: ")
        await peer.send(StateRequest(id=9))
        assert (await peer.reply()).rid == 9


async def test_two_mib_frame_closes_1009(
    server: RunningServer, demo_ids: dict[str, str], closed_with: ClosedWith
) -> None:
    peer = await open_peer(server, demo_ids["counter"])
    await peer.conn.send(b"\x04\x00" + bytes(2 << 20))
    code, _ = await closed_with(peer.conn)
    assert code == 1009


@pytest.mark.parametrize("value", ["", "abc", "0", "7", "65536", "+6", "%206", "-1"])
async def test_invalid_protocol_version_closes_1002(
    server: RunningServer, demo_ids: dict[str, str], value: str, closed_with: ClosedWith
) -> None:
    assert server.server_token is not None
    url = f"{inspector_url(server, demo_ids['counter'])}?protocol_version={value}"
    async with connect(
        url, subprotocols=token_protocols(server.server_token), open_timeout=TIMEOUT
    ) as conn:
        assert await closed_with(conn) == (1002, "inspector.invalid_protocol_version")
