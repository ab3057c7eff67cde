"""The demo's version check over HTTP: recorded once, kept by replays before and after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0


@pytest.fixture
async def http(server: RunningServer, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as client:
        yield client


def _by_path(history: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = history["nameRegistry"]
    out = {}
    for entry in history["entries"]:
        path = "/".join(
            names[s["val"]] for s in entry["location"] if s["tag"] == "WorkflowNameIndex"
        )
        out[path] = entry
    return out


async def _history_with(http: httpx.AsyncClient, base: str, path: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        history = (await http.get(base + "/workflow-history")).json()["history"]
        entries = _by_path(history)
        meta = history["entryMetadata"]
        if path in entries and meta[entries[path]["id"]]["status"] == "COMPLETED":
            return history
        assert asyncio.get_running_loop().time() < deadline, f"no completed {path} in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("target", ["start", "announce-v2"])
async def test_replays_keep_the_recorded_version(
    http: httpx.AsyncClient, demo_ids: dict[str, str], target: str
) -> None:
    base = f"/gateway/{demo_ids['heartbeat']}/inspector"
    history = await _history_with(http, base, "announce-v2")
    check = _by_path(history)["beat-style"]
    assert check["kind"] == {
        "tag": "WorkflowVersionCheckEntry",
        "val": {"resolved": 2, "latest": 2},
    }
    r = await http.post(
        base + "/workflow/replay", json={"entryId": _by_path(history)[target]["id"]}
    )
    assert r.status_code == 200, r.text
    assert check["id"] in {e["id"] for e in r.json()["history"]["entries"]}
    after = await _history_with(http, base, "announce-v2")
    # Same entry, same value; the run took the same branch again.
    assert _by_path(after)["beat-style"] == check
    state = (await http.get(base + "/state")).json()["state"]
    assert state["style"] == 2
