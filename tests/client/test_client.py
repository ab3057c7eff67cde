"""``InspectorClient`` against a real server: every request in every version.

PROTOCOL.md §3 says which requests exist in which version; the client must
answer each one that exists and refuse the others locally, before anything is
sent ("not in protocol vN", no round trip).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorscope.client import (
    HistoryUpdate,
    InitView,
    InspectorClient,
    InspectorConnectionClosed,
    InspectorRequestError,
    RequestNotSupported,
    StateUpdate,
)
from actorscope.protocol.history import WorkflowHistory, WorkflowStepEntry
from actorscope.protocol.versions import NEWEST_VERSION, VERSIONS, since
from actorscope.server.schedule_api import ScheduleApi

SERVER_TOKEN = "test-server-token-0123456789"
TIMEOUT = 5.0

#: The request each client method sends; the version table says since when
#: it exists (PROTOCOL.md §3, §9.3).
REQUESTS = {
    "state": "StateRequest",
    "patch_state": "StateRequest",  # a PatchStateRequest, then a StateRequest
    "connections": "ConnectionsRequest",
    "action": "ActionRequest",
    "rpcs": "RpcsListRequest",
    "traces": "TraceQueryRequest",
    "queue": "QueueRequest",
    "workflow_history": "WorkflowHistoryRequest",
    "replay": "WorkflowReplayRequest",
    "database_schema": "DatabaseSchemaRequest",
    "database_rows": "DatabaseTableRowsRequest",
    "schedules": "SchedulesRequest",
    "schedule_history": "ScheduleHistoryRequest",
    "delete_schedule": "ScheduleDeleteRequest",
}
SINCE = {method: since(request) for method, request in REQUESTS.items()}


def _client(server: Any, actor_id: str, version: int = NEWEST_VERSION) -> InspectorClient:
    return InspectorClient(server.url, actor_id, SERVER_TOKEN, version, timeout=TIMEOUT)


async def _wait_for(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_request_of_every_version(
    server: Any, demo_ids: dict[str, str], version: int
) -> None:
    counter_actor = server.directory.get(demo_ids["counter"])
    assert counter_actor is not None
    tick = ScheduleApi(counter_actor.scheduler).every(3600, "increment", 1, name="tick")
    calls: dict[str, Any] = {}
    async with _client(server, demo_ids["counter"], version) as counter:
        assert isinstance(counter.init, InitView)
        assert counter.init.state == {"count": 0}
        calls["state"] = lambda: counter.state()
        calls["patch_state"] = lambda: counter.patch_state({"count": 40})
        calls["action"] = lambda: counter.action("increment", 2)
        calls["connections"] = lambda: counter.connections()
        calls["rpcs"] = lambda: counter.rpcs()
        calls["traces"] = lambda: counter.traces(0, 2**62, 100)
        calls["queue"] = lambda: counter.queue(10)
        calls["schedules"] = lambda: counter.schedules()
        calls["schedule_history"] = lambda: counter.schedule_history(tick, 5)
        calls["delete_schedule"] = lambda: counter.delete_schedule("gone", "at")
        results: dict[str, Any] = {}
        for name in (
            "state", "patch_state", "action", "connections", "rpcs", "traces", "queue",
            "schedules", "schedule_history", "delete_schedule",
        ):
            if version >= SINCE[name]:
                results[name] = await calls[name]()
            else:
                with pytest.raises(RequestNotSupported, match=f"not in protocol v{version}"):
                    await calls[name]()
        assert results["state"] == {"count": 0}
        assert results["action"] == 42  # the patch took effect before the action
        assert await counter.state() == {"count": 42}
        assert results["connections"] == []
        assert results["rpcs"] == ["get_count", "increment"]
        if version >= SINCE["queue"]:
            assert results["queue"].size == 0
            assert isinstance(results["traces"], dict)  # the OTLP document
        if version >= SINCE["schedules"]:
            (schedule,) = results["schedules"]
            assert (schedule.id, schedule.kind, schedule.action) == ("tick", "every", "increment")
            assert schedule.args == [1] and schedule.interval_ms == 3_600_000
            assert results["schedule_history"] == []
            assert results["delete_schedule"] is False
            assert [s.id for s in counter.init.schedules] == ["tick"]
        else:
            assert counter.init.schedules == []

    async with _client(server, demo_ids["steps"], version) as steps:
        if version >= SINCE["workflow_history"]:
            await _wait_for(lambda: _has_entries(steps, 4))
            history = await steps.workflow_history()
            assert history is not None
            assert {"one", "two", "three", "rest"} <= set(history.name_registry)
        else:
            with pytest.raises(RequestNotSupported, match="not in protocol v1"):
                await steps.workflow_history()
        if version >= SINCE["replay"]:
            history = await steps.workflow_history()
            assert history is not None
            two = _entry_id(history, "two")
            rewound = await steps.replay(two)
            assert rewound is not None
            assert [_name(rewound, e.location) for e in rewound.entries] == ["one"]
        else:
            with pytest.raises(RequestNotSupported, match=f"not in protocol v{version}"):
                await steps.replay()

    async with _client(server, demo_ids["inventory"], version) as inventory:
        if version >= SINCE["database_schema"]:
            schema = await inventory.database_schema()
            assert "items" in repr(schema)
            rows = await inventory.database_rows("items", 2, 1)
            assert [r["name"] for r in rows] == ["pear", "plum"]
        else:
            for call in (inventory.database_schema, lambda: inventory.database_rows("items")):
                with pytest.raises(RequestNotSupported, match=f"not in protocol v{version}"):
                    await call()


def _name(history: WorkflowHistory, location: Any) -> str:
    last = location[-1]
    assert isinstance(last, int)
    return history.name_registry[last]


async def _has_entries(client: InspectorClient, n: int) -> bool:
    history = await client.workflow_history()
    return history is not None and len(history.entries) >= n


def _entry_id(history: WorkflowHistory, name: str) -> str:
    index = history.name_registry.index(name)
    for entry in history.entries:
        if entry.location[-1] == index:
            return entry.id
    raise AssertionError(f"no entry {name}")


async def test_v3_replay_is_refused_without_a_round_trip(
    server: Any, demo_ids: dict[str, str]
) -> None:
    async with _client(server, demo_ids["steps"], 3) as client:
        assert client._ws is not None
        sent: list[Any] = []
        original = client._ws.send

        async def spy(message: Any, *args: Any, **kwargs: Any) -> None:
            sent.append(message)
            await original(message, *args, **kwargs)

        client._ws.send = spy  # type: ignore[method-assign]
        with pytest.raises(RequestNotSupported) as info:
            await client.replay()
        assert sent == []
        assert "workflow replay is not in protocol v3" in str(info.value)
        assert info.value.code == "inspector.workflow_replay_unsupported"
        # The connection is still fine afterwards.
        assert await client.rpcs() == ["get_timeline"]


async def test_error_frames_raise_typed_errors(server: Any, demo_ids: dict[str, str]) -> None:
    async with _client(server, demo_ids["counter"]) as counter:
        with pytest.raises(InspectorRequestError) as info:
            await counter.action("nope")
        assert info.value.code == "actor.action_not_found"
        with pytest.raises(InspectorRequestError) as info:
            await counter.replay()
        assert info.value.code == "workflow.not_enabled"
        assert await counter.state() == {"count": 0}  # still usable
    async with _client(server, demo_ids["inventory"]) as inventory:
        with pytest.raises(InspectorRequestError) as info:
            await inventory.patch_state({"x": 1})
        assert info.value.code == "actor.state_not_enabled"
    async with _client(server, demo_ids["steps"]) as steps:
        with pytest.raises(InspectorRequestError) as info:
            await steps.replay("no-such-entry")
        assert info.value.code == "workflow.step_not_found"


async def test_pushes_deliver_init_and_live_updates(server: Any, demo_ids: dict[str, str]) -> None:
    async with _client(server, demo_ids["counter"]) as watcher:
        first = await watcher.next_push()
        assert isinstance(first, InitView)
        async with _client(server, demo_ids["counter"]) as other:
            await other.action("increment", 5)
        seen: list[Any] = []
        async for push in watcher.pushes():
            seen.append(push)
            if isinstance(push, StateUpdate):
                break
        assert StateUpdate(state={"count": 5}) in seen

    async with _client(server, demo_ids["steps"]) as steps:
        await _wait_for(lambda: _has_entries(steps, 4))
        history = await steps.workflow_history()
        assert history is not None
        await _drain(steps)
        await steps.replay(_entry_id(history, "two"))
        names: set[str] = set()
        while "three" not in names:
            push = await steps.next_push()
            if isinstance(push, HistoryUpdate):
                names = {
                    _name(push.history, e.location)
                    for e in push.history.entries
                    if isinstance(e.kind, WorkflowStepEntry)
                }
        assert await steps.action("get_timeline") == ["one", "two", "three", "two", "three"]


async def _drain(client: InspectorClient) -> None:
    """Drop the pushes already queued (the initial run's)."""
    while True:
        try:
            await client.next_push(timeout=0.2)
        except TimeoutError:
            return


async def test_bad_token_and_unknown_actor_close_the_connection(
    server: Any, demo_ids: dict[str, str]
) -> None:
    bad = InspectorClient(server.url, demo_ids["counter"], "wrong", timeout=TIMEOUT)
    with pytest.raises(InspectorConnectionClosed) as info:
        await bad.connect()
    assert info.value.code == 1008 or "unauthorized" in str(info.value) or "HTTP" in str(info.value)
    unknown = InspectorClient(server.url, "no-such-actor", SERVER_TOKEN, timeout=TIMEOUT)
    with pytest.raises(InspectorConnectionClosed):
        await unknown.connect()


async def test_actor_token_works(server: Any, demo_ids: dict[str, str]) -> None:
    actor = server.directory.get(demo_ids["counter"])
    async with InspectorClient(server.url, actor.actor_id, actor.record.token) as client:
        assert await client.state() == {"count": 0}


async def test_unreachable_server_is_a_closed_connection() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = InspectorClient(f"http://127.0.0.1:{port}", "a", timeout=TIMEOUT)
    with pytest.raises(InspectorConnectionClosed, match="cannot connect"):
        await client.connect()
    with pytest.raises(InspectorConnectionClosed):
        await client.state()


def test_urls_and_versions() -> None:
    from actorscope.client import inspector_url

    assert (
        inspector_url("https://example.com/base/", "a b", 3)
        == "wss://example.com/base/gateway/a%20b/inspector/connect?protocol_version=3"
    )
    with pytest.raises(ValueError):
        InspectorClient("http://x", "a", protocol_version=NEWEST_VERSION + 1)
    with pytest.raises(ValueError):
        inspector_url("ftp://x", "a", 4)
