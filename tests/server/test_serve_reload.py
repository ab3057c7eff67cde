"""``actorscope serve --reload``: a real subprocess, a real edit, a workflow living through it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
from pathlib import Path

import httpx

TIMEOUT = 60.0

APP = """
import actorscope
from actorscope import ActorContext, Loop, WorkflowContext

ticker = actorscope.Actor("ticker", state={"ticks": [], "done": False})


@ticker.action
def ticks(ctx: ActorContext) -> list[int]:
    return list(ctx.state["ticks"])


@ticker.workflow
async def run(wf: WorkflowContext, actor: ActorContext) -> int:
    async def tick(it: WorkflowContext, i: int):
        if i >= 6:
            return Loop.break_(i)
        await it.step("tick", lambda: actor.state["ticks"].append(i))
        await it.sleep("pause", 0.5)
        return Loop.continue_(i + 1)

    count = await wf.loop("ticks", 0, tick)
    await wf.step("finish", lambda: actor.state.update(done=True))
    return count


registry = actorscope.Registry([ticker], create=["ticker:one"])
"""

_URL = re.compile(r"^actorscope serving on (http://\S+)")


async def _next_banner(stdout: asyncio.StreamReader, seen: list[str]) -> str:
    """The URL of the next banner on ``stdout`` (each server start prints one)."""
    url = ""
    while True:
        raw = await asyncio.wait_for(stdout.readline(), TIMEOUT)
        if not raw:
            raise AssertionError("serve --reload exited:\n" + "\n".join(seen))
        line = raw.decode().rstrip("\n")
        seen.append(line)
        if m := _URL.match(line):
            url = m.group(1)
        elif line.startswith("(Ctrl-C") and url:
            return url


async def _state(url: str, token: str) -> dict[str, object]:
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    ) as http:
        actors = (await http.get("/actors", params={"name": "ticker"})).json()["actors"]
        actor_id = actors[0]["actor_id"]
        state: dict[str, object] = (await http.get(f"/gateway/{actor_id}/inspector/state")).json()
        return state


async def test_an_edit_restarts_the_server_and_the_workflow_carries_on(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    log = (tmp_path / "reload.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "serve",
        "app:registry",
        "--reload",
        "--port",
        "0",
        "--inspector-token",
        "t0k",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        # Its own process group, so the cleanup reaches the child server too.
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        url = await _next_banner(proc.stdout, seen)
        # Wait until the workflow is under way, then edit the code mid-run.
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while len((await _state(url, "t0k"))["state"]["ticks"]) < 1:  # type: ignore[index]
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        app.write_text(
            textwrap.dedent(APP).replace(
                "registry = actorscope",
                "@ticker.action\ndef added(ctx):\n    return 'new'\n\n\nregistry = actorscope",
            )
        )
        url = await _next_banner(proc.stdout, seen)
        # The new server runs the edited code ...
        banner = "\n".join(seen[seen.index(next(s for s in reversed(seen) if _URL.match(s))) :])
        assert "actions: added, ticks" in banner
        # ... and the workflow resumed from its history and finished.
        while not (body := await _state(url, "t0k"))["state"]["done"]:  # type: ignore[index]
            assert asyncio.get_running_loop().time() < deadline + TIMEOUT, body
            await asyncio.sleep(0.2)
        ticks = body["state"]["ticks"]  # type: ignore[index]
        # Every iteration ran; a tick can repeat only if its step was cut short by the restart.
        assert sorted(set(ticks)) == [0, 1, 2, 3, 4, 5]
        assert len(ticks) <= 7
        log.flush()
        assert "restarting the server" in (tmp_path / "reload.log").read_text()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), TIMEOUT)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.close()


def test_the_child_runs_the_same_command_without_reload() -> None:
    from actorscope.server.reload import child_argv

    argv = ["serve", "app:registry", "--reload", "--reload-dir", "src", "--port", "0"]
    assert child_argv(argv) == ["serve", "app:registry", "--port", "0"]
    assert child_argv(["serve", "--reload-dir=src", "--demo", "--reload"]) == ["serve", "--demo"]


def test_reload_without_an_app_refuses_at_once(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "actorscope", "serve", "--reload"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2 and "no actor definitions" in done.stderr
