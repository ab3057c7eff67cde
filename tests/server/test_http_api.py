"""The inspector HTTP API (PROTOCOL.md §8) against a real server: every endpoint and error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from actorscope.server import queue_limits
from actorscope.server.definitions import ActorDefinition, Registry
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


@pytest.fixture
async def http(server: RunningServer, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert f"{body['group']}.{body['code']}" == code
    assert isinstance(body["message"], str) and body["message"]


def base(ids: dict[str, str], name: str) -> str:
    return f"/gateway/{ids[name]}/inspector"


# state ---------------------------------------------------------------------------


async def test_get_state(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.get(base(demo_ids, "counter") + "/state")
    assert r.status_code == 200
    assert r.json() == {"state": {"count": 0}, "isStateEnabled": True}


async def test_get_state_when_not_enabled(
    http: httpx.AsyncClient, demo_ids: dict[str, str]
) -> None:
    r = await http.get(base(demo_ids, "inventory") + "/state")
    assert r.json() == {"state": None, "isStateEnabled": False}


async def test_patch_state(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "counter") + "/state"
    r = await http.patch(url, json={"state": {"count": 41, "note": "x"}})
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert (await http.get(url)).json()["state"] == {"count": 41, "note": "x"}
    r = await http.post(base(demo_ids, "counter") + "/action/increment", json={"args": []})
    assert r.json() == {"output": 42}


async def test_patch_state_refusals(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "counter") + "/state"
    assert_error(await http.patch(url, content=b"{not json"), 400, "request.invalid")
    assert_error(await http.patch(url, content=b""), 400, "request.invalid")
    assert_error(await http.patch(url, json=[1, 2]), 400, "request.invalid")
    assert_error(await http.patch(url, json={"value": 1}), 400, "request.invalid")
    assert_error(await http.patch(url, content=b"\xff\xfe"), 400, "request.invalid")
    r = await http.patch(base(demo_ids, "inventory") + "/state", json={"state": 1})
    assert_error(r, 400, "actor.state_not_enabled")
    # Nothing was changed by the refusals.
    assert (await http.get(url)).json()["state"] == {"count": 0}


# connections, rpcs, actions ----------------------------------------------------------


async def test_connections_empty(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.get(base(demo_ids, "counter") + "/connections")
    assert r.json() == {"connections": []}


async def test_rpcs(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.get(base(demo_ids, "counter") + "/rpcs")
    assert r.json() == {"rpcs": ["get_count", "increment"]}
    r = await http.get(base(demo_ids, "order") + "/rpcs")
    assert r.json() == {"rpcs": ["get_timeline"]}


async def test_action(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "counter") + "/action/"
    assert (await http.post(url + "increment", json={"args": [5]})).json() == {"output": 5}
    assert (await http.post(url + "increment", json={})).json() == {"output": 6}
    assert (await http.post(url + "get_count", content=b"")).json() == {"output": 6}
    state = await http.get(base(demo_ids, "counter") + "/state")
    assert state.json()["state"] == {"count": 6}


async def test_action_refusals(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "counter") + "/action/"
    assert_error(await http.post(url + "nope", json={"args": []}), 404, "actor.action_not_found")
    assert_error(await http.post(url + "increment", json={"args": 5}), 400, "request.invalid")
    assert_error(await http.post(url + "increment", content=b"[1"), 400, "request.invalid")
    # The action itself raising (a bad argument) is reported, not a bare 500.
    r = await http.post(url + "increment", json={"args": ["five"]})
    assert_error(r, 500, "actor.action_failed")
    assert "TypeError" in r.json()["message"]


async def test_database_action(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "inventory")
    r = await http.post(url + "/action/add_item", json={"args": ["lamp", 4]})
    assert r.status_code == 200, r.text
    rows = (await http.get(url + "/database/rows", params={"table": "items"})).json()["rows"]
    assert {"name": "lamp", "qty": 4} in [{"name": x["name"], "qty": x["qty"]} for x in rows]


# queue ----------------------------------------------------------------------------------


async def test_queue(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "order") + "/queue"
    r = await http.get(url)
    capacity = queue_limits.capacity()
    assert r.json() == {"size": 0, "maxSize": capacity, "truncated": False, "messages": []}
    for i in range(3):
        r = await http.post(f"/gateway/{demo_ids['order']}/queue/note", json={"n": i})
        assert r.status_code == 200, r.text
        assert r.json() == {"ok": True, "queueSize": i + 1}
    body = (await http.get(url, params={"limit": 2})).json()
    assert body["size"] == 3 and body["maxSize"] == capacity and body["truncated"] is True
    assert [m["name"] for m in body["messages"]] == ["note", "note"]
    assert all(isinstance(m["id"], int) and m["createdAtMs"] > 0 for m in body["messages"])
    assert len((await http.get(url)).json()["messages"]) == 3


async def test_queue_refusals(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    assert_error(
        await http.get(base(demo_ids, "order") + "/queue", params={"limit": "x"}),
        400,
        "request.invalid",
    )
    assert_error(
        await http.get(base(demo_ids, "order") + "/queue", params={"limit": "-1"}),
        400,
        "request.invalid",
    )
    counter = f"/gateway/{demo_ids['counter']}/queue/x"
    assert_error(await http.post(counter, json=1), 400, "workflow.not_enabled")
    order = f"/gateway/{demo_ids['order']}/queue/x"
    assert_error(await http.post(order, content=b"{"), 400, "request.invalid")
    assert_error(await http.post(order, content=b""), 400, "request.invalid")
    r = await http.get(base(demo_ids, "counter") + "/queue")
    assert r.json() == {"size": 0, "maxSize": 0, "truncated": False, "messages": []}


# traces ------------------------------------------------------------------------------------


async def test_traces(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "counter")
    await http.post(url + "/action/increment", json={"args": [1]})
    await http.post(url + "/action/nope", json={"args": []})  # not an action: no span
    await http.post(url + "/action/increment", json={"args": ["bad"]})
    body = (await http.get(url + "/traces")).json()
    assert body["clamped"] is False
    (resource_spans,) = body["otlp"]["resourceSpans"]
    resource = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
    assert resource["actor.id"] == {"stringValue": demo_ids["counter"]}
    spans = resource_spans["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans] == ["increment", "increment"]
    ok, failed = spans
    assert ok["status"]["code"] == 1 and failed["status"]["code"] == 2
    assert "TypeError" in failed["status"]["message"]
    for span in spans:
        assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
        assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 0
        keys = {a["key"] for a in span["attributes"]}
        assert {"action.name", "action.transport"} <= keys

    clamped = (await http.get(url + "/traces", params={"limit": 1})).json()
    assert clamped["clamped"] is True
    assert len(clamped["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 1
    future = (await http.get(url + "/traces", params={"startMs": 2**50})).json()
    assert future["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"] == []
    r = await http.get(url + "/traces", params={"endMs": "soon"})
    assert_error(r, 400, "request.invalid")


async def test_workflow_steps_are_traced(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "steps")

    async def three_spans() -> bool:
        body = (await http.get(url + "/traces")).json()
        spans = body["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
        return [s["name"] for s in spans] == ["one", "two", "three"]

    await eventually(three_spans)


# workflow history and replay refusals ------------------------------------------------------


async def test_workflow_history(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.get(base(demo_ids, "counter") + "/workflow-history")
    assert r.json() == {"history": None, "isWorkflowEnabled": False}

    async def has_rest() -> bool:
        body = (await http.get(base(demo_ids, "steps") + "/workflow-history")).json()
        return "rest" in body["history"]["nameRegistry"]

    await eventually(has_rest)
    body = (await http.get(base(demo_ids, "steps") + "/workflow-history")).json()
    assert body["isWorkflowEnabled"] is True
    history = body["history"]
    kinds = [e["kind"]["tag"] for e in history["entries"]]
    assert kinds == ["WorkflowStepEntry"] * 3 + ["WorkflowSleepEntry"]
    names = [history["nameRegistry"][e["location"][0]["val"]] for e in history["entries"]]
    assert names == ["one", "two", "three", "rest"]
    # User values are decoded to JSON, not hex.
    assert history["entries"][0]["kind"]["val"]["output"] == "one"
    meta = history["entryMetadata"][history["entries"][0]["id"]]
    assert meta["status"] == "COMPLETED" and meta["attempts"] == 1


async def test_replay_refusals(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.post(base(demo_ids, "counter") + "/workflow/replay", json={})
    assert_error(r, 400, "workflow.not_enabled")
    url = base(demo_ids, "steps") + "/workflow/replay"
    assert_error(await http.post(url, json={"entryId": "nope"}), 404, "workflow.step_not_found")
    assert_error(await http.post(url, json={"entryId": 7}), 400, "request.invalid")
    assert_error(await http.post(url, content=b"{"), 400, "request.invalid")

    async def has_rest() -> bool:
        body = (await http.get(base(demo_ids, "steps") + "/workflow-history")).json()
        return "rest" in body["history"]["nameRegistry"]

    await eventually(has_rest)
    history = (await http.get(base(demo_ids, "steps") + "/workflow-history")).json()["history"]
    sleep_id = history["entries"][3]["id"]
    r = await http.post(url, json={"entryId": sleep_id})
    assert_error(r, 400, "workflow.replay_target_not_step")


# database ------------------------------------------------------------------------------------


async def test_database_schema(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    body = (await http.get(base(demo_ids, "inventory") + "/database/schema")).json()
    (items,) = body["schema"]["tables"]
    assert items["table"] == {"schema": "main", "name": "items", "type": "table"}
    assert [c["name"] for c in items["columns"]] == ["id", "name", "qty"]
    assert items["records"] == 3
    r = await http.get(base(demo_ids, "counter") + "/database/schema")
    assert_error(r, 400, "database.not_enabled")


async def test_database_rows(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    url = base(demo_ids, "inventory") + "/database/rows"
    rows = (await http.get(url, params={"table": "items"})).json()["rows"]
    assert [r["name"] for r in rows] == ["apple", "pear", "plum"]
    page = (await http.get(url, params={"table": "items", "limit": 1, "offset": 1})).json()
    assert [r["name"] for r in page["rows"]] == ["pear"]
    assert_error(await http.get(url, params={"table": "nope"}), 404, "database.table_not_found")
    assert_error(await http.get(url), 400, "request.invalid")
    assert_error(
        await http.get(url, params={"table": "items", "limit": "x"}), 400, "request.invalid"
    )
    r = await http.get(base(demo_ids, "counter") + "/database/rows", params={"table": "items"})
    assert_error(r, 400, "database.not_enabled")


# summary -----------------------------------------------------------------------------------------


async def test_summary(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    body = (await http.get(base(demo_ids, "counter") + "/summary")).json()
    assert body == {
        "state": {"count": 0},
        "connections": [],
        "rpcs": ["get_count", "increment"],
        "queueSize": 0,
        "isStateEnabled": True,
        "isDatabaseEnabled": False,
        "isWorkflowEnabled": False,
        "workflowHistory": None,
    }
    body = (await http.get(base(demo_ids, "order") + "/summary")).json()
    assert body["isWorkflowEnabled"] is True and body["isStateEnabled"] is True
    assert set(body["workflowHistory"]) == {"nameRegistry", "entries", "entryMetadata"}
    body = (await http.get(base(demo_ids, "inventory") + "/summary")).json()
    assert body["isDatabaseEnabled"] is True and body["state"] is None


# auth -------------------------------------------------------------------------------------------


async def test_auth(server: RunningServer, demo_ids: dict[str, str]) -> None:
    counter, order = demo_ids["counter"], demo_ids["order"]
    own = server.directory.get(counter)
    other = server.directory.get(order)
    assert own is not None and other is not None
    url = f"/gateway/{counter}/inspector/state"
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
        assert_error(await client.get(url), 401, "inspector.unauthorized")
        bad = {"Authorization": "Bearer wrong"}
        assert_error(await client.get(url, headers=bad), 401, "inspector.unauthorized")
        basic = {"Authorization": f"Basic {server.server_token}"}
        assert_error(await client.get(url, headers=basic), 401, "inspector.unauthorized")
        theirs = {"Authorization": f"Bearer {other.record.token}"}
        assert_error(await client.get(url, headers=theirs), 401, "inspector.unauthorized")
        mine = {"Authorization": f"Bearer {own.record.token}"}
        assert (await client.get(url, headers=mine)).status_code == 200
        server_wide = {"Authorization": f"Bearer {server.server_token}"}
        assert (await client.get(url, headers=server_wide)).status_code == 200
        # Unknown actor: 404 with the server token, but 401 without one
        # (no hint to an unauthenticated caller that an id does not exist).
        missing = "/gateway/nope/inspector/state"
        assert_error(await client.get(missing, headers=server_wide), 404, "actor.not_found")
        assert_error(await client.get(missing), 401, "inspector.unauthorized")
        assert_error(await client.get(missing, headers=mine), 401, "inspector.unauthorized")
        # Refusals are checked after auth on every method.
        r = await client.patch(url, json={"state": {"count": 9}}, headers=theirs)
        assert_error(r, 401, "inspector.unauthorized")


async def test_dev_mode(server_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="actorscope.server"):
        dev = await server_factory(dev=True, server_token=None)
    assert "auth is OFF" in caplog.text
    actor_id = dev.directory.actors("counter")[0].actor_id
    async with httpx.AsyncClient(base_url=dev.url, timeout=TIMEOUT) as client:
        r = await client.get(f"/gateway/{actor_id}/inspector/state")
        assert r.json() == {"state": {"count": 0}, "isStateEnabled": True}
        r = await client.get("/gateway/nope/inspector/state")
        assert_error(r, 404, "actor.not_found")


async def test_dev_mode_with_a_token_still_checks_it(server_factory: Any) -> None:
    dev = await server_factory(dev=True, server_token="dev-token")
    actor_id = dev.directory.actors("counter")[0].actor_id
    async with httpx.AsyncClient(base_url=dev.url, timeout=TIMEOUT) as client:
        r = await client.get(f"/gateway/{actor_id}/inspector/state")
        assert_error(r, 401, "inspector.unauthorized")
        headers = {"Authorization": "Bearer dev-token"}
        r = await client.get(f"/gateway/{actor_id}/inspector/state", headers=headers)
        assert r.status_code == 200


# root routes ---------------------------------------------------------------------------------


async def test_root_routes_serve_a_single_actor_server(
    server_factory: Any, auth: dict[str, str]
) -> None:
    registry = Registry([ActorDefinition("solo", {"n": 1}, {"get": lambda ctx: ctx.state["n"]})])
    solo = await server_factory(registry=registry)
    async with httpx.AsyncClient(base_url=solo.url, headers=auth, timeout=TIMEOUT) as client:
        assert (await client.get("/inspector/state")).json() == {
            "state": {"n": 1},
            "isStateEnabled": True,
        }
        assert (await client.post("/inspector/action/get", json={"args": []})).json() == {
            "output": 1
        }
        assert_error(
            await client.get("/inspector/state", headers={"Authorization": ""}),
            401,
            "inspector.unauthorized",
        )


async def test_root_routes_refuse_on_a_multi_actor_server(
    http: httpx.AsyncClient, demo_ids: dict[str, str]
) -> None:
    assert_error(await http.get("/inspector/state"), 404, "actor.not_found")
