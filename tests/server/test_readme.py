"""The README's Python blocks work as written: the quick start app, and the client snippet."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

README = Path(__file__).resolve().parents[2] / "README.md"
ROOT = README.parent
TIMEOUT = 60.0


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M)


def _env(url: str, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTORSCOPE_")}
    env.update({"ACTORSCOPE_URL": url, "ACTORSCOPE_TOKEN": token, "NO_COLOR": "1"})
    return env


async def test_the_quick_start_app_serves_and_answers(tmp_path: Path, serve_process: Any) -> None:
    app = next(b for b in python_blocks() if b.startswith("# app.py"))
    (tmp_path / "app.py").write_text(app)
    running = await serve_process("app:registry", cwd=tmp_path)
    assert "counter/mine" in running.actors
    assert running.token is not None
    command = [sys.executable, "-m", "actorscope", "inspect", "--name", "counter"]
    command += ["--key", "mine", "call", "increment", "2"]
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        env=_env(running.url, running.token),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert (done.returncode, done.stdout) == (0, "2\n"), done.stderr


async def test_the_client_snippet_runs_as_written(tmp_path: Path, serve_process: Any) -> None:
    snippet = next(b for b in python_blocks() if "InspectorClient" in b)
    running = await serve_process("--demo", "--data", str(tmp_path / "data"))
    assert running.token is not None
    # As after `make run` has been up a moment: the order has recorded its first steps.
    order = running.actors["order/demo"]
    headers = {"Authorization": f"Bearer {running.token}"}
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=TIMEOUT) as http:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        path = f"/gateway/{order}/inspector/workflow-history"
        while len(((await http.get(path)).json()["history"] or {}).get("entries", [])) < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", snippet],
        env=_env(running.url, running.token),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    first, state = done.stdout.splitlines()
    assert first == "InitView"
    assert "timeline" in state


def test_make_run_serves_the_demo_or_the_app_args_name() -> None:
    def command(*args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "-s", "run", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1].split("actorscope ", 1)[1].split()

    assert command() == ["serve", "--demo"]
    assert command("ARGS=--port 0") == ["serve", "--demo", "--port", "0"]
    assert command("ARGS=app:registry --port 0") == ["serve", "app:registry", "--port", "0"]
