"""Schedules over HTTP (docs/PROTOCOL.md §9.8) and ``actorscope inspect schedules``,
against the demo's ``heartbeat`` actor on a real server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0
SERVER_TOKEN = "test-server-token-0123456789"
SCHEDULE_FIELDS = {
    "id",
    "name",
    "kind",
    "action",
    "args",
    "nextRunAt",
    "lastRunAt",
    "expression",
    "timezone",
    "intervalMs",
    "maxHistory",
}
FIRE_FIELDS = {"action", "scheduledAt", "firedAt", "finishedAt", "result", "error"}


@pytest.fixture
async def http(server: RunningServer, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as client:
        yield client


def base(ids: dict[str, str]) -> str:
    return f"/gateway/{ids['heartbeat']}/inspector"


async def poll(http: httpx.AsyncClient, path: str, check: Any) -> Any:
    """GET ``path`` until ``check(body)`` holds (generous deadline, no timing assertion)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        r = await http.get(path)
        assert r.status_code == 200, r.text
        body = r.json()
        if check(body):
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path}: condition not met, last answer {body}")
        await asyncio.sleep(0.1)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert f"{body['group']}.{body['code']}" == code and body["message"]


async def test_list_the_demo_heartbeat(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    body = await poll(http, base(demo_ids) + "/schedules", lambda b: b["schedules"])
    (schedule,) = body["schedules"]
    assert set(schedule) == SCHEDULE_FIELDS
    assert schedule["id"] == schedule["name"] == "heartbeat"
    assert schedule["kind"] == "every" and schedule["intervalMs"] == 3000
    assert schedule["action"] == "beat" and schedule["args"] == []
    assert schedule["expression"] is None and schedule["timezone"] is None
    assert isinstance(schedule["nextRunAt"], int) and schedule["maxHistory"] == 100


async def test_history_after_a_fire(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    path = base(demo_ids) + "/schedules/heartbeat/history"
    body = await poll(
        http, path + "?limit=1", lambda b: b["history"] and b["history"][-1]["result"] == "ok"
    )
    assert body["scheduleId"] == "heartbeat"
    (fire,) = body["history"]
    assert set(fire) == FIRE_FIELDS
    assert fire["action"] == "beat" and fire["error"] is None
    assert fire["scheduledAt"] <= fire["firedAt"] <= fire["finishedAt"]
    # The fire ran the action: the actor counted it.
    state = (await http.get(base(demo_ids) + "/state")).json()["state"]
    assert state["beats"] >= 1
    listed = (await http.get(base(demo_ids) + "/schedules")).json()["schedules"]
    assert listed[0]["lastRunAt"] is not None


async def test_delete_and_refusals(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    root = base(demo_ids) + "/schedules"
    await poll(http, root, lambda b: b["schedules"])
    assert_error(
        await http.delete(root + "/heartbeat", params={"kind": "weekly"}), 400, "request.invalid"
    )
    assert_error(await http.delete(root + "/heartbeat"), 400, "request.invalid")
    assert_error(
        await http.delete(root + "/nope", params={"kind": "at"}), 404, "schedule.not_found"
    )
    assert_error(await http.get(root + "/nope/history"), 404, "schedule.not_found")
    assert_error(await http.get(root + "/heartbeat/history?limit=x"), 400, "request.invalid")
    r = await http.delete(root + "/heartbeat", params={"kind": "cron"})
    assert r.status_code == 200 and r.json() == {"scheduleId": "heartbeat", "deleted": False}
    r = await http.delete(root + "/heartbeat", params={"kind": "every"})
    assert r.json() == {"scheduleId": "heartbeat", "deleted": True}
    assert (await http.get(root)).json() == {"schedules": []}


async def test_schedules_need_a_token(server: RunningServer, demo_ids: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as anonymous:
        assert_error(
            await anonymous.get(base(demo_ids) + "/schedules"), 401, "inspector.unauthorized"
        )


async def test_an_actor_without_schedules_lists_none(
    http: httpx.AsyncClient, demo_ids: dict[str, str]
) -> None:
    r = await http.get(f"/gateway/{demo_ids['counter']}/inspector/schedules")
    assert r.json() == {"schedules": []}


async def inspect(server: RunningServer, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"ACTORSCOPE_URL": server.url, "ACTORSCOPE_TOKEN": SERVER_TOKEN})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "inspect",
        "--name",
        "heartbeat",
        "--key",
        "demo",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_inspect_schedules_cli(
    server: RunningServer, http: httpx.AsyncClient, demo_ids: dict[str, str]
) -> None:
    await poll(http, base(demo_ids) + "/schedules", lambda b: b["schedules"])
    code, out, err = await inspect(server, "schedules")
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert header.split()[:3] == ["ID", "KIND", "WHEN"]
    assert row.split()[:4] == ["heartbeat", "every", "every", "3s"]
    assert "beat" in row and "\x1b[" not in out
    code, out, _ = await inspect(server, "schedules", "--json")
    assert code == 0 and json.loads(out)["schedules"][0]["id"] == "heartbeat"
    await poll(
        http,
        base(demo_ids) + "/schedules/heartbeat/history",
        lambda b: b["history"] and b["history"][-1]["result"] == "ok",
    )
    code, out, _ = await inspect(server, "schedules", "--history", "heartbeat", "--json")
    body = json.loads(out)
    assert code == 0 and body["scheduleId"] == "heartbeat" and body["history"]
    code, out, _ = await inspect(server, "schedules", "--history", "heartbeat")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["SCHEDULED", "FIRED", "FINISHED"]
    assert " ok " in out
    code, _, err = await inspect(server, "schedules", "--history", "nope")
    assert code == 1 and "schedule.not_found" in err
