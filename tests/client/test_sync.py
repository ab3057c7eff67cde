"""``SyncInspectorClient``: the blocking wrapper, driven from a worker thread.

The server fixture lives in the test's event loop, so the blocking calls run
in ``asyncio.to_thread`` — the same situation as a script talking to a server
in another process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from actorscope.client import (
    InitView,
    RequestNotSupported,
    StateUpdate,
    SyncInspectorClient,
)

SERVER_TOKEN = "test-server-token-0123456789"


def _script(url: str, counter_id: str, inventory_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with SyncInspectorClient(url, counter_id, SERVER_TOKEN, timeout=5.0) as client:
        assert isinstance(client.init, InitView)
        out["state"] = client.state()
        out["action"] = client.action("increment", 3)
        out["pushes"] = [p for p in client.pushes(timeout=0.5) if isinstance(p, StateUpdate)]
        client.patch_state({"count": 10})
        out["patched"] = client.state()
        out["rpcs"] = client.rpcs()
        out["queue"] = client.queue(5).size
        out["connections"] = client.connections()
        out["traces"] = client.traces(0, 2**62, 10)
        out["history"] = client.workflow_history()
    v2 = SyncInspectorClient(url, inventory_id, SERVER_TOKEN, protocol_version=2)
    with v2, pytest.raises(RequestNotSupported, match="not in protocol v2"):
        v2.database_schema()
    with SyncInspectorClient(url, inventory_id, SERVER_TOKEN) as client:
        out["rows"] = client.database_rows("items", 1, 0)
        out["schema"] = client.database_schema()
    return out


def _schedules_script(url: str, heartbeat_id: str) -> dict[str, Any]:
    with SyncInspectorClient(url, heartbeat_id, SERVER_TOKEN, timeout=5.0) as client:
        assert client.version == 6  # the newest by default
        return {
            "schedules": client.schedules(),
            "history": client.schedule_history("heartbeat", 5),
            "deleted": client.delete_schedule("heartbeat", "every"),
            "after": client.schedules(),
        }


async def test_sync_client_schedules(server: Any, demo_ids: dict[str, str]) -> None:
    actor = server.directory.get(demo_ids["heartbeat"])
    deadline = asyncio.get_running_loop().time() + 30
    while not await actor.schedules():
        assert asyncio.get_running_loop().time() < deadline, "the heartbeat never scheduled"
        await asyncio.sleep(0.05)
    out = await asyncio.to_thread(_schedules_script, server.url, demo_ids["heartbeat"])
    assert [(s.id, s.kind, s.action) for s in out["schedules"]] == [("heartbeat", "every", "beat")]
    assert all(f.action == "beat" for f in out["history"])
    assert out["deleted"] is True
    assert out["after"] == []


async def test_sync_client_runs_every_call(server: Any, demo_ids: dict[str, str]) -> None:
    out = await asyncio.to_thread(_script, server.url, demo_ids["counter"], demo_ids["inventory"])
    assert out["state"] == {"count": 0}
    assert out["action"] == 3
    assert StateUpdate(state={"count": 3}) in out["pushes"]
    assert out["patched"] == {"count": 10}
    assert out["rpcs"] == ["get_count", "increment"]
    assert out["queue"] == 0
    assert out["connections"] == []
    assert isinstance(out["traces"], dict)
    assert out["history"] is None  # counter has no workflow
    assert [r["name"] for r in out["rows"]] == ["apple"]
    assert "items" in repr(out["schema"])
