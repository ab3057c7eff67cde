"""Workflows over HTTP: replay end to end (PROTOCOL.md §8, ENGINE.md), queue, pushes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from actorscope.engine import WorkflowContext
from actorscope.server import workflow_host
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.inspector_api import (
    HistoryChanged,
    InspectorEvent,
    QueueChanged,
    StateChanged,
)
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def names(history: dict[str, Any]) -> list[str]:
    return [history["nameRegistry"][e["location"][-1]["val"]] for e in history["entries"]]


class Steps:
    """The ``steps`` demo actor over HTTP."""

    def __init__(self, http: httpx.AsyncClient, actor_id: str) -> None:
        self.http = http
        self.base = f"/gateway/{actor_id}/inspector"

    async def history(self) -> dict[str, Any]:
        body = (await self.http.get(self.base + "/workflow-history")).json()
        history: dict[str, Any] = body["history"]
        return history

    async def timeline(self) -> list[str]:
        state = (await self.http.get(self.base + "/state")).json()["state"]
        return list(state["timeline"])

    async def settled(self) -> bool:
        """All of one, two, three and the sleep ``rest`` are recorded."""
        recorded = names(await self.history())
        return bool(recorded) and recorded[-1] == "rest"

    async def entry_id(self, name: str) -> str:
        history = await self.history()
        return str(history["entries"][names(history).index(name)]["id"])

    async def replay(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(self.base + "/workflow/replay", json=body)


async def test_replay_from_two(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    actor = server.directory.get(demo_ids["steps"])
    assert actor is not None
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        steps = Steps(http, demo_ids["steps"])
        await eventually(steps.settled)
        assert await steps.timeline() == ["one", "two", "three"]
        one_before = (await steps.history())["entries"][0]

        events: list[InspectorEvent] = []
        unsubscribe = actor.subscribe(events.append)
        r = await steps.replay({"entryId": await steps.entry_id("two")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["isWorkflowEnabled"] is True
        # The history right after the rewind: only `one` is left.
        assert names(body["history"]) == ["one"]
        assert body["history"]["entries"] == [one_before]
        assert body["discarded"] == 3  # two, three, rest

        async def rerun() -> bool:
            return await steps.timeline() == ["one", "two", "three", "two", "three"]

        await eventually(rerun)
        await eventually(steps.settled)
        unsubscribe()
        assert names(await steps.history()) == ["one", "two", "three", "rest"]

        # The re-run was pushed: history updates as two and three re-ran, and
        # the state as each step appended to the timeline.
        states = [e.state["timeline"] for e in events if isinstance(e, StateChanged)]
        assert states[-2:] == [
            ["one", "two", "three", "two"],
            ["one", "two", "three", "two", "three"],
        ]
        # (A coalesced notification of the first run may still arrive first.)
        pushed = [len(e.history.entries) for e in events if isinstance(e, HistoryChanged)]
        rewound = pushed.index(1)
        assert pushed[rewound:][-1] == 4 and sorted(pushed[rewound:]) == pushed[rewound:]

        # Steps re-run are traced again.
        traces = (await http.get(steps.base + "/traces")).json()
        spans = traces["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert [s["name"] for s in spans] == ["one", "two", "three", "two", "three"]

        # The audit has it, with the credential class, never the token.
        replays = (await http.get(steps.base + "/workflow/replays")).json()["replays"]
        assert len(replays) == 1
        assert (replays[0]["transport"], replays[0]["credential"]) == ("http", "server")
        assert server.server_token not in str(replays)


async def test_replay_from_the_start(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        steps = Steps(http, demo_ids["steps"])
        await eventually(steps.settled)
        r = await steps.replay({})
        assert r.status_code == 200 and r.json()["history"]["entries"] == []

        async def rerun() -> bool:
            return await steps.timeline() == ["one", "two", "three"] * 2

        await eventually(rerun)


async def test_dry_run_changes_nothing(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        steps = Steps(http, demo_ids["steps"])
        await eventually(steps.settled)
        before = await steps.history()
        r = await steps.replay({"step": "three", "dryRun": True})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert [d["path"] for d in plan["discard"]] == ["three", "rest"]
        assert await steps.history() == before
        assert await steps.timeline() == ["one", "two", "three"]
        r = await steps.replay({"dryRun": "yes"})
        assert r.status_code == 400 and r.json()["code"] == "invalid"


def _blocking_registry(release: asyncio.Event, started: asyncio.Event) -> Registry:
    async def wait_for_release() -> str:
        started.set()
        await release.wait()
        return "released"

    async def workflow(wf: WorkflowContext, actor: ActorContext) -> None:
        await wf.step("first", lambda: "done")
        await wf.step("block", wait_for_release)
        await wf.sleep("after", 3600.0)

    return Registry([ActorDefinition("blocker", {"n": 0}, {}, workflow)])


async def test_replay_while_a_step_executes_is_refused(
    server_factory: Any, auth: dict[str, str]
) -> None:
    release, started = asyncio.Event(), asyncio.Event()
    srv = await server_factory(registry=_blocking_registry(release, started))
    actor_id = srv.directory.actors()[0].actor_id
    base = f"/gateway/{actor_id}/inspector"
    async with httpx.AsyncClient(base_url=srv.url, headers=auth, timeout=TIMEOUT) as http:
        await asyncio.wait_for(started.wait(), TIMEOUT)
        before = (await http.get(base + "/workflow-history")).json()["history"]
        first_id = before["entries"][0]["id"]
        for body in ({}, {"entryId": first_id}):
            r = await http.post(base + "/workflow/replay", json=body)
            assert r.status_code == 409, r.text
            assert (r.json()["group"], r.json()["code"]) == ("workflow", "replay_in_flight")
        # Nothing was touched.
        assert (await http.get(base + "/workflow-history")).json()["history"] == before

        replays = (await http.get(base + "/workflow/replays")).json()["replays"]
        assert [r["result"] for r in replays] == ["refused", "refused"]

        release.set()

        async def settled() -> bool:
            history = (await http.get(base + "/workflow-history")).json()["history"]
            return names(history) == ["first", "block", "after"]

        await eventually(settled)
        r = await http.post(base + "/workflow/replay", json={"entryId": first_id})
        assert r.status_code == 200, r.text


def _waiting_registry() -> Registry:
    async def workflow(wf: WorkflowContext, actor: ActorContext) -> None:
        message = await wf.queue.next("go")

        def record() -> None:
            actor.state["got"] = message

        await wf.step("record", record)
        await wf.sleep("after", 3600.0)

    return Registry([ActorDefinition("waiter", {"got": None}, {}, workflow)])


async def test_queue_pushes_and_consumption(server_factory: Any, auth: dict[str, str]) -> None:
    srv = await server_factory(registry=_waiting_registry())
    actor = srv.directory.actors()[0]
    events: list[InspectorEvent] = []
    actor.subscribe(events.append)
    base = f"/gateway/{actor.actor_id}"
    async with httpx.AsyncClient(base_url=srv.url, headers=auth, timeout=TIMEOUT) as http:
        r = await http.post(base + "/queue/other", json=[1, 2])
        assert r.json() == {"ok": True, "queueSize": 1}
        r = await http.post(base + "/queue/go", json={"answer": 42})
        assert r.json()["ok"] is True

        async def consumed() -> bool:
            state = (await http.get(base + "/inspector/state")).json()["state"]
            return bool(state == {"got": {"answer": 42}})

        # A step's change to the state is saved and visible from outside even
        # though the step did not save it itself.
        await eventually(consumed)
        queue = (await http.get(base + "/inspector/queue")).json()
        assert queue["size"] == 1 and [m["name"] for m in queue["messages"]] == ["other"]
    sizes = [e.size for e in events if isinstance(e, QueueChanged)]
    assert sizes == [1, 2, 1]
    assert any(isinstance(e, StateChanged) and e.state == {"got": {"answer": 42}} for e in events)


async def test_queue_bound(
    server_factory: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_host, "QUEUE_MAX_SIZE", 2)
    srv = await server_factory(registry=_waiting_registry())
    base = f"/gateway/{srv.directory.actors()[0].actor_id}"
    async with httpx.AsyncClient(base_url=srv.url, headers=auth, timeout=TIMEOUT) as http:
        for _ in range(2):
            assert (await http.post(base + "/queue/other", json=1)).status_code == 200
        r = await http.post(base + "/queue/other", json=1)
        assert r.status_code == 409 and (r.json()["group"], r.json()["code"]) == ("queue", "full")
        queue = (await http.get(base + "/inspector/queue")).json()
        assert (queue["size"], queue["maxSize"]) == (2, 2)
