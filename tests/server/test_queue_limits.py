"""Queue bounds per message name: a flood of one name never blocks another."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from actorscope.server import queue_limits
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0


def _order(srv: RunningServer) -> str:
    return next(a.actor_id for a in srv.directory.actors() if a.record.name == "order")


async def test_a_flood_of_one_name_does_not_block_approval(
    server: RunningServer, auth: dict[str, str]
) -> None:
    order = _order(server)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        for i in range(queue_limits.MAX_PER_NAME):
            r = await http.post(f"/gateway/{order}/queue/spam", json={"i": i})
            assert r.status_code == 200, r.text
        r = await http.post(f"/gateway/{order}/queue/spam", json={"i": "one more"})
        assert r.status_code == 409
        assert (r.json()["group"], r.json()["code"]) == ("queue", "full")

        r = await http.post(f"/gateway/{order}/queue/approval", json={"by": "ops"})
        assert r.status_code == 200, r.text

        # The demo order takes it after its cool-down and ships.
        async def shipped() -> bool:
            r = await http.post(f"/gateway/{order}/inspector/action/get_timeline", json={})
            return "ship" in r.json()["output"]

        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not await shipped():
            assert asyncio.get_running_loop().time() < deadline, "the order never shipped"
            await asyncio.sleep(0.1)
        queue = (await http.get(f"/gateway/{order}/inspector/queue", params={"limit": 0})).json()
        assert queue["size"] == queue_limits.MAX_PER_NAME  # only the spam is left


async def test_distinct_names_are_bounded_but_a_waited_for_name_gets_in(
    server: RunningServer, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_limits, "MAX_NAMES", 3)
    order = _order(server)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        # Wait until the order waits for its approval (after its cool-down).
        async def waiting() -> bool:
            history = (await http.get(f"/gateway/{order}/inspector/workflow-history")).json()
            entries: list[dict[str, Any]] = history["history"]["entries"]
            return any(e["kind"]["tag"] == "WorkflowMessageEntry" for e in entries)

        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not await waiting():
            assert asyncio.get_running_loop().time() < deadline, "the order never waited"
            await asyncio.sleep(0.1)

        for name in ("a", "b", "c"):
            assert (await http.post(f"/gateway/{order}/queue/{name}", json=1)).status_code == 200
        # A second message of a name already queued is fine; a fourth name is not.
        assert (await http.post(f"/gateway/{order}/queue/a", json=2)).status_code == 200
        r = await http.post(f"/gateway/{order}/queue/d", json=1)
        assert r.status_code == 409
        assert (r.json()["group"], r.json()["code"]) == ("queue", "too_many_names")
        # The name the workflow waits for is let in regardless.
        r = await http.post(f"/gateway/{order}/queue/approval", json={"by": "ops"})
        assert r.status_code == 200, r.text


async def test_overlong_names_are_refused(server: RunningServer, auth: dict[str, str]) -> None:
    order = _order(server)
    name = "n" * (queue_limits.MAX_NAME_LENGTH + 1)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        r = await http.post(f"/gateway/{order}/queue/{name}", json=1)
        assert r.status_code == 400 and r.json()["code"] == "invalid"
