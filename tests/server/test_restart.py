"""Crash and restart: SIGKILL a real ``actorscope serve`` mid-workflow, start it again.

The ``order`` demo is killed while sleeping (``cool-down``), restarted, killed
again while waiting for ``approval``, restarted again; it then finishes once
``approval`` is sent. State, history and queue survive every kill.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

TIMEOUT = 5.0
BEFORE_SLEEP = ["validate", "reserve-0", "reserve-1", "reserve-2", "charge"]


async def _history(http: httpx.AsyncClient, actor: str) -> dict[str, Any]:
    body = (await http.get(f"/gateway/{actor}/inspector/workflow-history")).json()
    history: dict[str, Any] = body["history"]
    return history


def _names(history: dict[str, Any]) -> list[str]:
    """The leaf name of every entry, in creation order."""
    out = []
    for entry in history["entries"]:
        last = [s for s in entry["location"] if s["tag"] == "WorkflowNameIndex"][-1]
        out.append(history["nameRegistry"][last["val"]])
    return out


async def _wait_for_entry(http: httpx.AsyncClient, actor: str, name: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while name not in _names(await _history(http, actor)):
        assert asyncio.get_running_loop().time() < deadline, f"no {name!r} entry in time"
        await asyncio.sleep(0.02)


async def test_order_survives_sigkill(tmp_path: Path, serve_process: Any) -> None:
    data = str(tmp_path / "data")
    first = await serve_process("--demo", "--data", data)
    order = first.actors["order/demo"]
    headers = {"Authorization": f"Bearer {first.token}"}
    base = f"/gateway/{order}/inspector"

    async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=TIMEOUT) as http:
        await _wait_for_entry(http, order, "cool-down", 10)
        r = await http.post(f"/gateway/{order}/queue/note", json={"keep": "me"})
        assert r.json() == {"ok": True, "queueSize": 1}
        before = await _history(http, order)
    first.kill()  # while sleeping the 2 s cool-down
    await first.proc.wait()
    assert _names(before) == [*BEFORE_SLEEP[:1], "items", *BEFORE_SLEEP[1:], "cool-down"]

    second = await serve_process("--demo", "--data", data)
    assert second.actors["order/demo"] == order
    async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=TIMEOUT) as http:
        state = (await http.get(base + "/state")).json()["state"]
        assert state == {"timeline": BEFORE_SLEEP}
        after = await _history(http, order)
        assert after["entries"][: len(before["entries"])] == before["entries"]
        queue = (await http.get(base + "/queue")).json()
        assert [m["name"] for m in queue["messages"]] == ["note"]
        # The sleep ends by itself (alarm persisted), then the workflow waits.
        await _wait_for_entry(http, order, "approval", 10)
    second.kill()  # while waiting for approval
    await second.proc.wait()

    third = await serve_process("--demo", "--data", data)
    async with httpx.AsyncClient(base_url=third.url, headers=headers, timeout=TIMEOUT) as http:
        assert (await http.get(base + "/state")).json()["state"] == {"timeline": BEFORE_SLEEP}
        r = await http.post(f"/gateway/{order}/queue/approval", json={"by": "ops"})
        assert r.status_code == 200
        deadline = asyncio.get_running_loop().time() + 10
        while (await http.get(base + "/state")).json()["state"]["timeline"][-1] != "ship":
            assert asyncio.get_running_loop().time() < deadline, "order did not finish"
            await asyncio.sleep(0.02)
        assert (await http.get(base + "/state")).json()["state"] == {
            "timeline": [*BEFORE_SLEEP, "ship"]
        }
        history = await _history(http, order)
        assert _names(history)[-3:] == ["cool-down", "approval", "ship"]
        message = history["entries"][-2]["kind"]
        assert message == {
            "tag": "WorkflowMessageEntry",
            "val": {"name": "approval", "messageData": {"by": "ops"}},
        }
        statuses = {m["status"] for m in history["entryMetadata"].values()}
        assert statuses == {"COMPLETED"}
        # The unrelated message is still queued.
        queue = (await http.get(base + "/queue")).json()
        assert [m["name"] for m in queue["messages"]] == ["note"]
