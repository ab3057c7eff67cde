"""A user's own app, end to end, the way a user runs it.

One module (``app.py``) with two actors — ``greeter`` (state and actions) and
``pipeline`` (a workflow with a loop and a sleep) — served with ``actorscope
serve app:registry`` from the app's own directory, looked at with
``actorscope inspect``, replayed without and with ``--restore-state``, and
killed with SIGKILL mid-workflow and after the replays: every command is the
real one, in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import httpx

TIMEOUT = 30.0

APP = '''
"""My app: a greeter and a three-batch pipeline."""

import actorscope
from actorscope import ActorContext, Loop, WorkflowContext

greeter = actorscope.Actor("greeter", state={"greeted": []})


@greeter.action
def greet(ctx: ActorContext, name: str) -> str:
    ctx.state["greeted"].append(name)
    return f"hello, {name}"


# State checkpoints: a replay may ask to put the state back as it was.
pipeline = actorscope.Actor("pipeline", state={"log": []}, state_checkpoints=True)


@pipeline.action
def log(ctx: ActorContext) -> list[str]:
    return list(ctx.state["log"])


async def note(actor: ActorContext, line: str) -> None:
    """A step body: its effect is on disk before the step is recorded."""
    actor.state["log"].append(line)
    await actor.save_state()


@pipeline.workflow
async def run(wf: WorkflowContext, actor: ActorContext) -> str:
    async def batch(it: WorkflowContext, i: int):
        if i == 3:
            return Loop.break_(i)
        await it.step("work", lambda: note(actor, f"work-{i}"))
        await it.sleep("rest", 1.0)
        return Loop.continue_(i + 1)

    await wf.loop("batches", 0, batch)
    await wf.step("finish", lambda: note(actor, "finish"))
    # Stay alive (and replayable) until told otherwise.
    await wf.sleep("idle", 3600)
    return "done"


registry = actorscope.Registry([greeter, pipeline], create=["pipeline:one"])
'''


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def inspect(url: str, token: str, *args: str) -> Ran:
    """``actorscope inspect --name pipeline --key one ARGS`` against the running server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTORSCOPE_")}
    env.update({"ACTORSCOPE_URL": url, "ACTORSCOPE_TOKEN": token, "NO_COLOR": "1"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "inspect",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def paths(history: dict[str, Any]) -> list[str]:
    """Every entry's location path (``batches/~1/work``), in creation order."""
    names = history["nameRegistry"]
    out = []
    for entry in history["entries"]:
        parts = []
        for segment in entry["location"]:
            if segment["tag"] == "WorkflowNameIndex":
                parts.append(names[segment["val"]])
            else:
                parts.append(f"~{segment['val']['iteration']}")
        out.append("/".join(parts))
    return out


class Pipeline:
    """The ``pipeline/one`` actor through ``actorscope inspect``."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    async def run(self, *args: str) -> Ran:
        return await inspect(self.url, self.token, "--name", "pipeline", "--key", "one", *args)

    async def history(self) -> list[str]:
        ran = await self.run("history", "--json")
        assert ran.code == 0, ran.err
        return paths(ran.json()["history"])

    async def log(self) -> list[str]:
        ran = await self.run("call", "log")
        assert ran.code == 0, ran.err
        out: list[str] = ran.json()
        return out

    async def until(self, path: str) -> None:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while path not in await self.history():
            assert asyncio.get_running_loop().time() < deadline, f"no {path} in time"
            await asyncio.sleep(0.1)


async def test_a_user_app_serves_inspects_replays_and_survives_kill_9(
    tmp_path: Path, serve_process: Any
) -> None:
    app_dir = tmp_path / "myapp"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(textwrap.dedent(APP))

    first = await serve_process("app:registry", "--create", "greeter:me", cwd=app_dir)
    assert set(first.actors) == {"pipeline/one", "greeter/me"}
    assert first.token is not None
    token = first.token
    pipeline = Pipeline(first.url, token)

    # Killed mid-loop, while batch 0 rests (watched over HTTP, which answers
    # faster than starting a process): the work so far is on disk.
    actor_id = first.actors["pipeline/one"]
    async with httpx.AsyncClient(
        base_url=first.url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    ) as http:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while "batches/~0/rest" not in paths(
            (await http.get(f"/gateway/{actor_id}/inspector/workflow-history")).json()["history"]
        ):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
    first.kill()
    await first.proc.wait()

    second = await serve_process("app:registry", cwd=app_dir)
    assert second.actors == {
        "pipeline/one": first.actors["pipeline/one"],
        "greeter/me": first.actors["greeter/me"],
    }
    pipeline = Pipeline(second.url, token)
    await pipeline.until("idle")
    assert await pipeline.history() == [
        "batches",
        "batches/~0/work",
        "batches/~0/rest",
        "batches/~1/work",
        "batches/~1/rest",
        "batches/~2/work",
        "batches/~2/rest",
        "finish",
        "idle",
    ]
    # Each step ran once: the kill came while resting, after work-0 was recorded.
    assert await pipeline.log() == ["work-0", "work-1", "work-2", "finish"]

    # The other actor answers through inspect too.
    greeted = await inspect(
        second.url, token, "--name", "greeter", "--key", "me", "call", "greet", "ada"
    )
    assert (greeted.code, greeted.json()) == (0, "hello, ada")
    summary = await pipeline.run("summary")
    assert summary.code == 0 and "workflow:" in summary.out

    # A replay from a step inside the loop rewinds the whole loop; without
    # restoring state, every step's effect on the state happens again.
    plan = await pipeline.run("replay", "--step", "batches/~1/work", "--dry-run", "--json")
    assert plan.code == 0, plan.err
    assert plan.json()["boundary"]["path"] == "batches"
    done = await pipeline.run(
        "replay", "--step", "batches/~1/work", "--reason", "acceptance", "--yes"
    )
    assert done.code == 0, done.err
    await pipeline.until("idle")
    assert await pipeline.log() == ["work-0", "work-1", "work-2", "finish"] * 2
    replays = await pipeline.run("replays", "--json")
    assert [r["reason"] for r in replays.json()["replays"]] == ["acceptance"]

    # With --restore-state the state goes back to what it was at the rewind
    # boundary (before the loop: the initial state), so the re-run's effects
    # land once. The dry run shows the state it would restore.
    preview = await pipeline.run(
        "replay", "--step", "batches/~1/work", "--restore-state", "--dry-run", "--json"
    )
    assert preview.code == 0, preview.err
    assert preview.json()["state"]["restored"] == {"log": []}
    restored = await pipeline.run(
        "replay", "--step", "batches/~1/work", "--restore-state", "--reason", "clean", "--yes"
    )
    assert restored.code == 0, restored.err
    assert "state restored" in restored.out
    await pipeline.until("idle")
    assert await pipeline.log() == ["work-0", "work-1", "work-2", "finish"]

    # Killed again while idle; the replayed runs, the state and the audit survive.
    second.kill()
    await second.proc.wait()
    third = await serve_process("app:registry", cwd=app_dir)
    pipeline = Pipeline(third.url, token)
    assert (await pipeline.history())[-1] == "idle"
    assert await pipeline.log() == ["work-0", "work-1", "work-2", "finish"]
    replays = (await pipeline.run("replays", "--json")).json()["replays"]
    assert [(r["reason"], r["stateRestored"]) for r in replays] == [
        ("clean", True),
        ("acceptance", False),
    ]
