"""``actorscope serve MODULE:ATTR`` as a user runs it: a real subprocess in the app's directory."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

TIMEOUT = 30.0

APP = """
import actorscope
from actorscope import ActorContext

counter = actorscope.Actor("counter", state={"count": 0})


@counter.action
def increment(ctx: ActorContext, n: int = 1) -> int:
    ctx.state["count"] += n
    return ctx.state["count"]


notes = actorscope.Actor("notes", state={"notes": []})

registry = actorscope.Registry([counter, notes])
empty = actorscope.Registry()
"""


def write_app(directory: Path, source: str = APP, name: str = "app") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def serve_fails(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``actorscope serve *args`` expected to refuse to start."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "actorscope",
            "serve",
            "--port",
            "0",
            "--data",
            str(cwd / "d"),
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode != 0, done.stdout
    return done


async def test_serves_the_users_app_from_its_directory(tmp_path: Path, serve_process: Any) -> None:
    app_dir = tmp_path / "myapp"
    write_app(app_dir)
    running = await serve_process(
        "app:registry", "--create", "counter:mine", "--create", "notes", cwd=app_dir
    )
    assert set(running.actors) == {"counter/mine", "notes/"}
    banner = "\n".join(running.output)
    assert "counter" in banner and "actions: increment" in banner
    # The data directory defaults to ./.actorscope in the app's directory.
    assert (app_dir / ".actorscope" / "server-token").exists()

    headers = {"Authorization": f"Bearer {running.token}"}
    counter = running.actors["counter/mine"]
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=TIMEOUT) as http:
        r = await http.post(f"/gateway/{counter}/inspector/action/increment", json={"args": [5]})
        assert r.json() == {"output": 5}


@pytest.mark.parametrize(
    ("auth", "sets_token"),
    [
        ((), "TOKEN=$(cat "),
        (("--inspector-token", "it's s3cret"), "TOKEN='it'\"'\"'s s3cret'"),
        (("--dev",), None),
    ],
)
async def test_the_banners_curl_lines_paste_as_they_are(
    tmp_path: Path, serve_process: Any, auth: tuple[str, ...], sets_token: str | None
) -> None:
    write_app(tmp_path)
    running = await serve_process("app:registry", "--create", "counter", *auth, cwd=tmp_path)
    start = running.output.index("try (these lines paste as they are):")
    pasted = [line.strip() for line in running.output[start + 1 :] if line.startswith("  ")]
    if sets_token is None:
        assert not any("TOKEN" in line for line in pasted)
    else:
        assert pasted[0].startswith(sets_token)
    assert all("<token>" not in line and "<actorId>" not in line for line in pasted)
    curls = [line for line in pasted if line.startswith("curl ")]
    assert len(curls) == 3  # create an actor, a summary, an action call
    script = "set -e\n" + "\n".join(
        line
        if not line.startswith("curl ")
        else line.replace("curl ", "curl -sS --fail ", 1) + "; echo"
        for line in pasted
    )
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert answers[0]["actor"]["name"] == "counter" and answers[0]["actor"]["key"] == "mine"
    assert answers[1]["state"] == {"count": 0}
    assert answers[2] == {"output": 1}


async def test_demo_flag_is_the_demo_module(tmp_path: Path, serve_process: Any) -> None:
    by_flag = await serve_process("--demo", "--data", str(tmp_path / "a"))
    by_spec = await serve_process(
        "actorscope.server.demo:demo_registry", "--data", str(tmp_path / "b")
    )
    assert set(by_flag.actors) == set(by_spec.actors)
    assert "order/demo" in by_flag.actors


def test_no_app_refuses_and_says_how(tmp_path: Path) -> None:
    done = serve_fails(tmp_path)
    assert done.returncode == 2
    assert "no actor definitions" in done.stderr
    assert "actorscope serve app:registry" in done.stderr and "--demo" in done.stderr


def test_an_empty_registry_refuses(tmp_path: Path) -> None:
    write_app(tmp_path)
    done = serve_fails(tmp_path, "app:empty")
    assert "app:empty holds no actor definitions" in done.stderr


def test_a_missing_module_or_attribute_is_named(tmp_path: Path) -> None:
    write_app(tmp_path)
    done = serve_fails(tmp_path, "nope:registry")
    assert done.returncode == 2
    assert "cannot import module 'nope'" in done.stderr
    assert "Traceback" not in done.stderr
    done = serve_fails(tmp_path, "app:regsitry")
    assert "module 'app' has no attribute 'regsitry' (it has" in done.stderr


def test_a_module_that_raises_shows_its_traceback(tmp_path: Path) -> None:
    write_app(tmp_path, "import actorscope\n\nraise RuntimeError('config file missing')\n")
    done = serve_fails(tmp_path, "app:registry")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert 'app.py", line 3' in done.stderr
    assert "RuntimeError: config file missing" in done.stderr


def test_create_of_an_unknown_type_is_refused(tmp_path: Path) -> None:
    write_app(tmp_path)
    done = serve_fails(tmp_path, "app:registry", "--create", "countr:x")
    assert "cannot create 'countr': not an actor type of this app (it defines counter, notes)" in (
        done.stderr
    )


def test_demo_and_an_app_together_are_refused(tmp_path: Path) -> None:
    write_app(tmp_path)
    done = serve_fails(tmp_path, "app:registry", "--demo")
    assert done.returncode == 2 and "not both" in done.stderr


@pytest.mark.parametrize("command", ["serve", "inspect", "frame"])
def test_help_has_no_restructuredtext_markup(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actorscope", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "``" not in done.stdout and ":class:" not in done.stdout
    assert "issue" not in done.stdout.lower()


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _all_parsers(sub)
    return found


def test_every_help_page_is_plain_text() -> None:
    from actorscope.server.cli import build_parser

    pages = [p.format_help() for p in _all_parsers(build_parser())]
    assert len(pages) > 15
    for page in pages:
        assert "``" not in page and ":class:" not in page and ":meth:" not in page, page
        assert not re.search(r"issue\s*#?\d", page, re.I), page


async def test_actorscope_serve_blocks_until_sigint(tmp_path: Path) -> None:
    import signal

    script = textwrap.dedent(APP) + textwrap.dedent(
        f"""
        actorscope.serve(registry, port=0, data={str(tmp_path / "d")!r}, create=["counter:x"])
        print("serve returned", flush=True)
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines = []
    while not lines or not lines[-1].startswith("(Ctrl-C"):
        raw = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        assert raw, "serve() exited before its banner"
        lines.append(raw.decode().rstrip("\n"))
    assert any(line.strip().startswith("counter/x ") for line in lines)
    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0 and out.decode() == "serve returned\n"
