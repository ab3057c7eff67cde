"""Today's RivetKit Inspector UI, as far as it can run outside a browser: its own codecs against us.

The hosted UI cannot be loaded in CI, but what it does with a server can:
rivetkit 2.3.19's browser codecs (``rivetkit/inspector/client``, what the UI
imports) and cbor-x run in Node (``js/ui_v6_session.mjs``) against a real
server: the advertised version makes the UI pick negotiated v6, every
request its tabs send is answered without an ``Error``, user values decode
as CBOR, and the HTTP replay answer passes the UI's transport decoder
(PROTOCOL.md §9.2, §10.3, §10.5, §11).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from actorscope.protocol.versions import NEWEST_VERSION
from actorscope.server.runner import RunningServer

SCRIPT = Path(__file__).with_name("js") / "ui_v6_session.mjs"


def _ui_protocol(version: str) -> int:
    """The UI's choice from a runtime version (§9.2): ≥ 2.3.4 → negotiated v6."""
    major, minor, patch = (int(p) for p in version.split("-")[0].split(".")[:3])
    return 6 if (major, minor, patch) >= (2, 3, 4) else 0


@pytest.fixture(scope="module")
def rivetkit_2_3(npm_package: Callable[[str], Path]) -> Path:
    return npm_package("rivetkit@2.3.19")


async def _wait_for_steps(server: RunningServer, actor_id: str) -> None:
    actor = server.directory.get(actor_id)
    assert actor is not None
    for _ in range(400):
        if len(actor.state()["timeline"]) >= 3:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the steps workflow did not run its steps")


async def test_the_current_ui_codecs_speak_v6_with_cbor_values(
    server: RunningServer, demo_ids: dict[str, str], rivetkit_2_3: Path
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed: apt-get install -y nodejs"
    steps = server.directory.get(demo_ids["steps"])
    assert steps is not None
    await _wait_for_steps(server, steps.actor_id)
    # ESM resolves packages next to the script: run a copy inside the npm cache.
    script = rivetkit_2_3 / f"ui-v6-session-{uuid.uuid4().hex}.mjs"
    shutil.copyfile(SCRIPT, script)
    try:
        proc = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            "--no-warnings",
            str(script),
            server.url,
            steps.actor_id,
            steps.record.token,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        script.unlink()
    assert proc.returncode == 0, stderr.decode()
    out: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    assert _ui_protocol(out["version"]) == 6 == NEWEST_VERSION
    assert out["errors"] == []
    timeline = ["one", "two", "three"]
    assert out["init"]["state"] == {"timeline": timeline}
    assert out["init"]["history"][:3] == ["WorkflowStepEntry"] * 3
    assert out["replies"]["state"] == {"timeline": timeline}
    assert out["replies"]["rpcs"] == ["get_timeline"]
    assert out["replies"]["schedules"] == "SchedulesResponse"
    assert out["replies"]["stepOutputs"] == timeline
    assert out["replies"]["action"] == timeline
    assert out["replay"] == {
        "status": 200,
        "isWorkflowEnabled": True,
        "isByteArray": True,
        "entries": 0,  # right after a rewind to the first step
    }
    auth = {"Authorization": f"Bearer {server.server_token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=10.0) as http:
        r = await http.get(f"/gateway/{steps.actor_id}/inspector/workflow/replays")
    records = r.json()["replays"]
    assert [(r["transport"], r["credential"]) for r in records] == [("http", "actor")]
