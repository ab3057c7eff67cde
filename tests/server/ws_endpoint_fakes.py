"""A fake actor façade and a real uvicorn server around the inspector endpoint.

``test_ws_endpoint.py`` and ``test_ws_v6.py`` test the WebSocket transport
itself against this in-memory ``ActorInspector`` (``FakeActor``) and
``FakeDirectory``: ``serve()`` runs ``inspector_websocket_routes`` on a real
socket, ``ws()`` connects an inspector, ``recv``/``recv_msg`` read frames.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import msgpack
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from actorscope.protocol.framing import decode_to_client
from actorscope.protocol.messages import ToClient
from actorscope.protocol.values import MsgpackCodec, ValueCodec
from actorscope.server.errors import action_not_found, replay_in_flight
from actorscope.server.inspector_api import (
    ConnectionInfo,
    CredentialClass,
    InspectorEvent,
    QueueInfo,
    ScheduleFireInfo,
    ScheduleInfo,
    StateChanged,
    TraceResult,
)
from actorscope.server.ws_inspector import inspector_websocket_routes

TIMEOUT = 5.0
# The conftest fixture: await closed_with(conn) -> (close code, reason).
ClosedWith = Callable[[ClientConnection], Awaitable[tuple[int, str]]]
SERVER_TOKEN = "server-secret"
ACTOR_TOKEN = "actor-secret"


class FakeSnapshot:
    """Stands in for an engine ``HistorySnapshot``: only ``to_transport`` is used."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def to_transport(self) -> dict[str, Any]:
        meta = {
            "status": "COMPLETED",
            "error": None,
            "attempts": 1,
            "lastAttemptAt": 2,
            "createdAt": 1,
            "completedAt": 2,
            "rollbackCompletedAt": None,
            "rollbackError": None,
        }
        return {
            "nameRegistry": list(self.names),
            "entries": [
                {
                    "id": f"e{i}",
                    "location": [{"tag": "WorkflowNameIndex", "val": i}],
                    "kind": {
                        "tag": "WorkflowStepEntry",
                        "val": {"output": msgpack.packb(name), "error": None},
                    },
                }
                for i, name in enumerate(self.names)
            ],
            "entryMetadata": {f"e{i}": meta for i in range(len(self.names))},
        }


@attrs.define
class FakeActor:
    """An in-memory ``ActorInspector`` with a counter state and one action."""

    actor_id: str = "a1"
    state_value: Any = attrs.Factory(lambda: {"count": 0})
    history: list[str] = attrs.Factory(lambda: ["one", "two"])
    listeners: list[Callable[[InspectorEvent], None]] = attrs.Factory(list)
    is_state_enabled: bool = True
    is_database_enabled: bool = False
    is_workflow_enabled: bool = True
    schedule_list: list[ScheduleInfo] = attrs.Factory(list)
    history_limits: list[int] = attrs.Factory(list)

    def state(self) -> Any:
        return self.state_value

    def encoded_state(self, codec: ValueCodec) -> bytes:
        return codec.encode(self.state_value)

    async def patch_state(self, value: Any) -> None:
        self.state_value = value
        self.emit(StateChanged(value))

    def connections(self) -> list[ConnectionInfo]:
        return [ConnectionInfo("c1", {"ip": "127.0.0.1"})]

    def rpcs(self) -> list[str]:
        return ["increment"]

    async def call_action(self, name: str, args: list[Any]) -> Any:
        if name != "increment":
            raise action_not_found(name)
        self.state_value = {"count": self.state_value["count"] + sum(args)}
        self.emit(StateChanged(self.state_value))
        return self.state_value["count"]

    async def queue_status(self, limit: int) -> QueueInfo:
        return QueueInfo(size=0, max_size=100, messages=[], truncated=False)

    async def traces(self, start_ms: int, end_ms: int, limit: int) -> TraceResult:
        return TraceResult(otlp={"resourceSpans": []}, clamped=False)

    async def workflow_history(self) -> Any:
        return FakeSnapshot(self.history)

    async def replay(
        self, entry_id: str | None, *, credential: CredentialClass, transport: str
    ) -> Any:
        if entry_id == "busy":
            raise replay_in_flight("step 'two' is running")
        self.history = self.history[:1]
        return FakeSnapshot(self.history)

    async def database_schema(self) -> Any:
        return {}

    async def database_rows(self, table: str, limit: int, offset: int) -> list[dict[str, Any]]:
        return []

    async def schedules(self) -> list[ScheduleInfo]:
        return list(self.schedule_list)

    async def schedule_history(self, schedule_id: str, limit: int) -> list[ScheduleFireInfo]:
        self.history_limits.append(limit)
        return []

    async def delete_schedule(self, schedule_id: str, kind: str) -> bool:
        return False

    def subscribe(self, listener: Callable[[InspectorEvent], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, event: InspectorEvent) -> None:
        for listener in list(self.listeners):
            listener(event)


@attrs.define
class FakeDirectory:
    actors: dict[str, FakeActor]
    dev_mode: bool = False

    def get(self, actor_id: str) -> FakeActor | None:
        return self.actors.get(actor_id)

    def authorize(self, actor_id: str, token: str | None) -> CredentialClass | None:
        if token == SERVER_TOKEN:
            return "server"
        if token == ACTOR_TOKEN and actor_id in self.actors:
            return "actor"
        return None


@attrs.define
class Server:
    url: str
    actor: FakeActor
    directory: FakeDirectory


@contextlib.asynccontextmanager
async def serve(ws_max_size: int = 1 << 20, **options: Any) -> AsyncIterator[Server]:
    actor = FakeActor()
    directory = FakeDirectory({"a1": actor, "a2": FakeActor(actor_id="a2")})
    routes = inspector_websocket_routes(directory, value_codec=MsgpackCodec(), **options)
    config = uvicorn.Config(
        Starlette(routes=routes),
        host="127.0.0.1",
        port=0,
        ws="websockets-sansio",
        ws_max_size=ws_max_size,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Server(f"ws://127.0.0.1:{port}", actor, directory)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT)


def ws(server: Server, query: str = "", *, token: str | None = SERVER_TOKEN, **kw: Any) -> Any:
    offered = ["rivet", "rivet_target.actor", "rivet_encoding.bare"]
    if token is not None:
        offered.append(f"rivet_inspector_token.{token}")
    return connect(
        f"{server.url}/gateway/a1/inspector/connect{query}",
        subprotocols=subprotocols(*offered),
        open_timeout=TIMEOUT,
        **kw,
    )


def subprotocols(*names: str) -> list[Subprotocol]:
    return [Subprotocol(name) for name in names]


async def recv(conn: ClientConnection) -> bytes:
    frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert isinstance(frame, bytes)
    return frame


async def recv_msg(conn: ClientConnection, version: int | None = None) -> Any:
    _, message = decode_to_client(await recv(conn), version)
    assert isinstance(message, ToClient)
    return message.body
