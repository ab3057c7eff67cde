"""RivetKit 2.3.19's own inspector client library against ``actorscope serve --demo``.

The RivetKit Inspector UI of today negotiates ``?protocol_version=6`` and
speaks through ``rivetkit/inspector/client`` (PROTOCOL.md §9.2). This test
installs ``rivetkit@2.3.19`` from npm into the test cache (never into the
repository), runs a real ``actorscope serve --demo`` subprocess and drives it
with ``rivetkit_inspector_client.mjs`` under Node: every request of v6, each
answered correctly as RivetKit's codecs decode it — schedules, and a workflow
history holding a version-check entry (tag 8) included. User values travel
as CBOR (§11), decoded with the cbor-x the UI uses.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol.versions import NEWEST_VERSION

SCRIPT = Path(__file__).with_name("rivetkit_inspector_client.mjs")
RIVETKIT = "rivetkit@2.3.19"
TIMEOUT = 60.0


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _kinds(history: dict[str, Any]) -> list[str]:
    return [e["kind"]["tag"] for e in history["entries"]]


def _by_tag(replies: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in replies:
        if r is not None:
            out.setdefault(r["body"]["tag"], []).append(r["body"]["val"])
    return out


async def test_rivetkit_2_3_19_client_gets_every_v6_answer(
    npm_package: Callable[[str], Path], serve_process: Any, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for RivetKit's client: apt-get install -y nodejs npm")
    root = npm_package(RIVETKIT)
    srv = await serve_process("--demo", "--data", str(tmp_path / "data"))
    assert srv.token, srv.output
    ids = {name.split("/")[0]: actor_id for name, actor_id in srv.actors.items()}
    base = f"{srv.url}/gateway"

    def heartbeat_ready() -> bool:
        history = _get(f"{base}/{ids['heartbeat']}/inspector/workflow-history", srv.token)
        schedules = _get(f"{base}/{ids['heartbeat']}/inspector/schedules", srv.token)
        kinds = _kinds(history["history"]) if history["history"] else []
        return "WorkflowVersionCheckEntry" in kinds and bool(schedules["schedules"])

    def steps_ready() -> bool:
        state = _get(f"{base}/{ids['steps']}/inspector/state", srv.token)
        return len(state["state"]["timeline"]) >= 3

    await _until(heartbeat_ready, "the heartbeat's schedule and version check")
    await _until(steps_ready, "the steps workflow")

    assert NEWEST_VERSION == 6
    plan = {
        "url": srv.url.replace("http://", "ws://"),
        "token": srv.token,
        "version": NEWEST_VERSION,
        "actors": [
            {
                "name": "counter",
                "id": ids["counter"],
                "requests": [
                    {"tag": "PatchStateRequest", "val": {"state": {"cbor": {"count": 40}}}},
                    {"tag": "StateRequest", "val": {"id": 1}},
                    {"tag": "ConnectionsRequest", "val": {"id": 2}},
                    {
                        "tag": "ActionRequest",
                        "val": {"id": 3, "name": "increment", "args": {"cbor": [2]}},
                    },
                    {"tag": "RpcsListRequest", "val": {"id": 4}},
                    {
                        "tag": "TraceQueryRequest",
                        "val": {"id": 5, "startMs": 0, "endMs": 2**53 - 1, "limit": 100},
                    },
                ],
            },
            {
                "name": "order",
                "id": ids["order"],
                "requests": [{"tag": "QueueRequest", "val": {"id": 6, "limit": 10}}],
            },
            {
                "name": "heartbeat",
                "id": ids["heartbeat"],
                "requests": [
                    {"tag": "WorkflowHistoryRequest", "val": {"id": 7}},
                    {"tag": "SchedulesRequest", "val": {"id": 8}},
                    {
                        "tag": "ScheduleHistoryRequest",
                        "val": {"id": 9, "scheduleId": "heartbeat", "limit": 10},
                    },
                    {
                        "tag": "ScheduleDeleteRequest",
                        "val": {"id": 10, "scheduleId": "no-such", "kind": "at"},
                    },
                    {
                        "tag": "ScheduleDeleteRequest",
                        "val": {"id": 11, "scheduleId": "heartbeat", "kind": "weekly"},
                    },
                ],
            },
            {
                "name": "inventory",
                "id": ids["inventory"],
                "requests": [
                    {"tag": "DatabaseSchemaRequest", "val": {"id": 12}},
                    {
                        "tag": "DatabaseTableRowsRequest",
                        "val": {"id": 13, "table": "items", "limit": 10, "offset": 0},
                    },
                ],
            },
            {
                "name": "steps",
                "id": ids["steps"],
                "requests": [{"tag": "WorkflowReplayRequest", "val": {"id": 14, "entryId": None}}],
            },
        ],
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        str(root),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(plan).encode()), TIMEOUT)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert set(result["protocols"]) == {"rivet"}
    actors = {a["name"]: a for a in result["actors"]}

    # Every connection opens with a v6 Init (tabConfig and schedules included).
    for name, actor in actors.items():
        assert actor["init"]["body"]["tag"] == "Init", name
    counter_init = actors["counter"]["init"]["body"]["val"]
    assert counter_init["state"]["cbor"] == {"count": 0}
    assert counter_init["isStateEnabled"] is True
    hidden = {t["id"] for t in counter_init["tabConfig"] if t["hidden"]}
    assert {"workflow", "database", "queue"} <= hidden and "state" not in hidden
    heartbeat_init = actors["heartbeat"]["init"]["body"]["val"]
    assert [s["id"] for s in heartbeat_init["schedules"]] == ["heartbeat"]
    assert "WorkflowVersionCheckEntry" in _kinds(heartbeat_init["workflowHistory"]["history"])

    counter = _by_tag(actors["counter"]["replies"])
    (state,) = counter["StateResponse"]
    assert state == {"rid": 1, "state": state["state"], "isStateEnabled": True}
    assert state["state"]["cbor"] == {"count": 40}  # the patch, CBOR both ways
    (connections,) = counter["ConnectionsResponse"]
    assert connections["rid"] == 2 and isinstance(connections["connections"], list)
    (action,) = counter["ActionResponse"]
    assert action["rid"] == 3 and action["output"]["cbor"] == 42
    (rpcs,) = counter["RpcsListResponse"]
    assert rpcs == {"rid": 4, "rpcs": ["get_count", "increment"]}
    (traces,) = counter["TraceQueryResponse"]
    assert traces["rid"] == 5 and "resourceSpans" in traces["payload"]["cbor"]

    (queue,) = _by_tag(actors["order"]["replies"])["QueueResponse"]
    assert queue["rid"] == 6 and queue["status"]["maxSize"] > 0

    heartbeat = _by_tag(actors["heartbeat"]["replies"])
    (history,) = heartbeat["WorkflowHistoryResponse"]
    assert history["rid"] == 7 and history["isWorkflowEnabled"] is True
    entries = history["history"]["history"]["entries"]
    (check,) = [e for e in entries if e["kind"]["tag"] == "WorkflowVersionCheckEntry"]
    assert check["kind"]["val"] == {"resolved": 2, "latest": 2}
    names = history["history"]["history"]["nameRegistry"]
    assert "beat-style" in names and "announce-v2" in names
    (schedules,) = heartbeat["SchedulesResponse"]
    (beat,) = schedules["schedules"]
    assert schedules["rid"] == 8
    assert (beat["id"], beat["name"], beat["kind"], beat["action"]) == (
        "heartbeat",
        "heartbeat",
        "every",
        "beat",
    )
    assert beat["intervalMs"] == 3000 and beat["args"]["cbor"] == []
    (fires,) = heartbeat["ScheduleHistoryResponse"]
    assert fires["rid"] == 9 and fires["scheduleId"] == "heartbeat"
    for fire in fires["history"]:
        assert fire["action"] == "beat" and fire["result"] in ("running", "ok", "error", "skipped")
    (deleted,) = heartbeat["ScheduleDeleteResponse"]
    assert deleted == {"rid": 10, "scheduleId": "no-such", "deleted": False}
    (bad_kind,) = heartbeat["Error"]
    assert 'invalid inspector schedule kind "weekly"' in bad_kind["message"]

    inventory = _by_tag(actors["inventory"]["replies"])
    (schema,) = inventory["DatabaseSchemaResponse"]
    assert schema["rid"] == 12 and "items" in json.dumps(schema["schema"]["cbor"])
    (rows,) = inventory["DatabaseTableRowsResponse"]
    assert rows["rid"] == 13
    assert [r["name"] for r in rows["result"]["cbor"]] == ["apple", "pear", "plum"]

    (replay,) = _by_tag(actors["steps"]["replies"])["WorkflowReplayResponse"]
    assert replay["rid"] == 14 and replay["isWorkflowEnabled"] is True
    assert replay["history"]["history"]["entries"] == []  # rewound to the start
