"""``GET /inspector/events``: the Server-Sent Events stream of an actor's changes.

Real server, real HTTP client (httpx streaming), demo actors plus a workflow
whose step runs until the test releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from actorscope.engine import WorkflowContext
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.demo import demo_registry
from actorscope.server.event_stream import EventStream, format_event
from actorscope.server.inspector_api import StateChanged
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0
Event = tuple[str, Any]

_gates: dict[str, asyncio.Event] = {}


def _gate(actor_id: str) -> asyncio.Event:
    return _gates.setdefault(actor_id, asyncio.Event())


async def _gated(wf: WorkflowContext, actor: ActorContext) -> None:
    async def work() -> str:
        await _gate(actor.actor_id).wait()
        return "worked"

    await wf.step("prepare", lambda: "ready")
    await wf.step("work", work)
    await wf.sleep("rest", 3600)


def _plan(ctx: ActorContext) -> str:
    return ctx.schedule.every(3600, "tick", name="hourly")


def _registry() -> Registry:
    definitions = list(demo_registry())
    definitions.append(ActorDefinition("gated", None, {}, _gated))
    definitions.append(ActorDefinition("planner", None, {"plan": _plan, "tick": lambda ctx: 1}))
    return Registry(definitions)


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Parse SSE lines into (event, JSON data) pairs; comments are skipped."""
    name, data = "message", []
    async for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])


async def read_until(stream: AsyncIterator[Event], done: Callable[[Event], bool]) -> list[Event]:
    """Events up to and including the first one ``done`` accepts (generous deadline)."""
    seen: list[Event] = []
    async with asyncio.timeout(TIMEOUT):
        async for event in stream:
            seen.append(event)
            if done(event):
                return seen
    raise AssertionError(f"stream ended before the expected event; saw {seen!r}")


@contextlib.asynccontextmanager
async def follow(
    url: str, path: str, headers: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.Response, AsyncIterator[Event]]]:
    """An HTTP client, the open stream response and its parsed events."""
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT) as http,
        http.stream("GET", path) as response,
    ):
        yield http, response, events(response.aiter_lines())


def _initial_done(names: set[str]) -> Callable[[Event], bool]:
    seen: set[str] = set()

    def done(event: Event) -> bool:
        seen.add(event[0])
        return names <= seen

    return done


async def test_stream_needs_a_token(server: RunningServer, demo_ids: dict[str, str]) -> None:
    url = f"{server.url}/gateway/{demo_ids['counter']}/inspector/events"
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await http.get(url, headers=headers)
            assert r.status_code == 401
            assert r.json()["code"] == "unauthorized"
        # A token in the URL is never a credential.
        r = await http.get(url, params={"token": server.server_token})
        assert r.status_code == 401
        auth = {"Authorization": f"Bearer {server.server_token}"}
        r = await http.get(f"{server.url}/gateway/nope/inspector/events", headers=auth)
        assert r.status_code == 404
        assert r.json() == {
            "group": "actor",
            "code": "not_found",
            "message": "no actor 'nope'",
        }


async def test_actor_token_opens_its_own_stream_only(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    counter = server.directory.get(demo_ids["counter"])
    assert counter is not None
    own = {"Authorization": f"Bearer {counter.record.token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        other = await http.get(f"/gateway/{demo_ids['order']}/inspector/events", headers=own)
        assert other.status_code == 401
        url = f"/gateway/{demo_ids['counter']}/inspector/events"
        async with http.stream("GET", url, headers=own) as r:
            assert r.status_code == 200
            first = await read_until(events(r.aiter_lines()), lambda e: e[0] == "state")
            assert first[-1] == ("state", {"state": {"count": 0}})


async def test_opens_with_current_values_then_pushes_state(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    counter = demo_ids["counter"]
    async with follow(server.url, f"/gateway/{counter}/inspector/events", auth) as (
        http,
        r,
        stream,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        initial = await read_until(stream, _initial_done({"state", "connections", "schedules"}))
        assert dict(initial) == {
            "state": {"state": {"count": 0}},
            "connections": {"connections": []},
            "schedules": {"schedules": []},
        }
        # No workflow: no queue, history or workflow events.
        called = await http.post(
            f"/gateway/{counter}/inspector/action/increment", json={"args": [5]}
        )
        assert called.json() == {"output": 5}
        pushed = await read_until(stream, lambda e: e[0] == "state")
        assert pushed[-1] == ("state", {"state": {"count": 5}})
        assert not {name for name, _ in pushed} & {"history", "workflow", "queue"}


async def test_workflow_finishes_live(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    order = demo_ids["order"]
    async with follow(server.url, f"/gateway/{order}/inspector/events", auth) as (http, _r, stream):
        initial = await read_until(
            stream, _initial_done({"state", "connections", "queue", "history", "workflow"})
        )
        assert "nameRegistry" in dict(initial)["history"]["history"]
        await read_until(stream, lambda e: e[0] == "workflow" and e[1]["status"] == "waiting")
        sent = await http.post(f"/gateway/{order}/queue/approval", json={"by": "sse"})
        assert sent.status_code < 300

        def shipped(event: Event) -> bool:
            if event[0] != "history":
                return False
            history = event[1]["history"]
            names = history["nameRegistry"]
            return any(
                names[e["location"][-1]["val"]] == "ship"
                and history["entryMetadata"][e["id"]]["status"] == "COMPLETED"
                for e in history["entries"]
            )

        await read_until(stream, shipped)
        done = await read_until(stream, lambda e: e[0] == "workflow")
        assert done[-1] == ("workflow", {"status": "done", "executing": [], "retrying": False})


async def test_a_running_step_is_reported_before_it_has_an_entry(
    server_factory: Any, auth: dict[str, str]
) -> None:
    running: RunningServer = await server_factory(registry=_registry())
    gated = next(a.actor_id for a in running.directory.actors("gated"))
    async with follow(running.url, f"/gateway/{gated}/inspector/events", auth) as (
        _http,
        _r,
        stream,
    ):
        busy = await read_until(
            stream, lambda e: e[0] == "workflow" and e[1]["executing"] == ["work"]
        )
        assert busy[-1][1]["status"] == "running"
        _gate(gated).set()
        idle = await read_until(stream, lambda e: e[0] == "workflow" and e[1]["executing"] == [])
        assert idle[-1][1]["status"] == "sleeping"


async def test_schedules_are_pushed(server_factory: Any, auth: dict[str, str]) -> None:
    running: RunningServer = await server_factory(registry=_registry())
    planner = next(a.actor_id for a in running.directory.actors("planner"))
    path = f"/gateway/{planner}/inspector/events"
    async with follow(running.url, path, auth) as (http, _r, stream):
        initial = await read_until(stream, lambda e: e[0] == "schedules")
        assert initial[-1] == ("schedules", {"schedules": []})
        await http.post(f"/gateway/{planner}/inspector/action/plan", json={"args": []})
        pushed = await read_until(stream, lambda e: e[0] == "schedules")
        (schedule,) = pushed[-1][1]["schedules"]
        listed = (await http.get(f"/gateway/{planner}/inspector/schedules")).json()
        assert listed["schedules"] == [schedule]
        assert (schedule["id"], schedule["kind"], schedule["action"]) == ("hourly", "every", "tick")


async def test_root_route_serves_a_single_actor_server(
    server_factory: Any, auth: dict[str, str]
) -> None:
    counter = next(d for d in demo_registry() if d.name == "counter")
    running: RunningServer = await server_factory(registry=Registry([counter]))
    async with follow(running.url, "/inspector/events", auth) as (_http, r, stream):
        assert r.status_code == 200
        first = await read_until(stream, lambda e: e[0] == "state")
        assert first[-1] == ("state", {"state": {"count": 0}})


async def test_a_slow_reader_gets_the_newest_value_once(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    actor = server.directory.get(demo_ids["counter"])
    assert actor is not None
    stream = EventStream(actor)
    for n in range(1000):
        stream.on_event(StateChanged({"count": n}))
    chunk = await stream.next_chunk(1.0)
    assert chunk == format_event("state", {"state": {"count": 999}})
    assert await stream.next_chunk(0.01) is None


async def test_server_stop_ends_open_streams(server_factory: Any, auth: dict[str, str]) -> None:
    running: RunningServer = await server_factory()
    counter = running.directory.actors("counter")[0].actor_id
    async with follow(running.url, f"/gateway/{counter}/inspector/events", auth) as (
        _http,
        _r,
        stream,
    ):
        await read_until(stream, _initial_done({"state", "connections", "schedules"}))
        stopping = asyncio.create_task(running.stop())
        # The response ends cleanly (a complete chunked body), not cut off.
        rest = [event async for event in stream]
        assert rest == []
        await stopping


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("state", {"state": "a\nb"}, b'event: state\ndata: {"state":"a\\nb"}\n\n'),
        ("queue", {"size": 3}, b'event: queue\ndata: {"size":3}\n\n'),
    ],
)
def test_format_event_is_one_data_line(name: str, data: Any, expected: bytes) -> None:
    assert format_event(name, data) == expected
