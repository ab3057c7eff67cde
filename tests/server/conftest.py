"""Fixtures: a real actorscope server on 127.0.0.1 (a free port) per test.

``server`` — a ``RunningServer`` (``actorscope.server.runner``) with the demo
registry (``actorscope.server.demo``), a fresh data dir under ``tmp_path``,
``dev=False`` and the server-wide token ``SERVER_TOKEN``. One instance of each
demo actor exists with key ``"demo"``. Attributes:

* ``.url`` — ``http://127.0.0.1:PORT``; ``.ws_url`` — ``ws://127.0.0.1:PORT``;
  ``.port``, ``.host``.
* ``.server_token`` — the server-wide token (send ``Authorization: Bearer``).
* ``.directory`` — the ``ActorSystem`` (an ``ActorDirectory``):
  ``.get(actor_id)`` → ``ActorInstance`` (the ``ActorInspector`` façade, plus
  ``.record`` with ``.actor_id/.name/.key/.token``), ``.actors(name=None)``,
  ``await .get_or_create(name, key)``, ``.authorize(actor_id, token)``.
* ``.config`` — the ``ServerConfig`` (``.data_dir``, ``.registry``, ...).
* ``await .stop()`` — done by the fixture at teardown.

``demo_ids`` — ``{"counter": id, "order": id, "steps": id, "inventory": id,
"heartbeat": id}``
of the ``server`` fixture's demo actors.

``server_factory`` — ``await server_factory(**overrides)`` starts another
server (stopped at teardown) with ``ServerConfig`` overrides, e.g.
``registry=...``, ``dev=True, server_token=None``, ``max_protocol_version=3``,
``data_dir=...``; defaults as for ``server`` (demo registry and demo actors).

``auth`` — the ``{"Authorization": "Bearer <SERVER_TOKEN>"}`` header dict.

``serve_process`` — runs ``actorscope serve`` as a real subprocess (see there).

``closed_with`` — ``await closed_with(conn)`` reads a ``websockets`` client
connection until the server closes it and returns ``(code, reason)``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from actorscope.server.demo import DEMO_KEY, demo_registry
from actorscope.server.runner import RunningServer, ServerConfig, start_server

SERVER_TOKEN = "test-server-token-0123456789"

ServerFactory = Callable[..., Awaitable[RunningServer]]


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0
) -> Any:
    """The first truthy result of ``check()`` within ``timeout`` seconds (polled).

    HTTP errors and missing keys while a node starts or fails over count as
    "not yet"; the last one is in the failure message.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    started: list[RunningServer] = []
    counter = 0

    async def factory(**overrides: Any) -> RunningServer:
        nonlocal counter
        counter += 1
        registry = overrides.get("registry") or demo_registry()
        config = ServerConfig(
            registry=registry,
            data_dir=tmp_path / f"data-{counter}",
            server_token=SERVER_TOKEN,
            create=tuple((name, DEMO_KEY) for name in registry.names()),
        )
        config = attrs.evolve(config, **overrides)
        running = await start_server(config)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.stop()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    return await server_factory()


@pytest.fixture
def demo_ids(server: RunningServer) -> dict[str, str]:
    return {a.record.name: a.actor_id for a in server.directory.actors()}


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVER_TOKEN}"}


@attrs.define
class ServeProcess:
    """A real ``actorscope serve`` subprocess and what its banner said."""

    proc: asyncio.subprocess.Process
    output: list[str]
    log_path: Path
    url: str = ""
    token: str | None = None
    actors: dict[str, str] = attrs.field(factory=dict)

    def log_text(self) -> str:
        """What the process logged on stderr so far."""
        return self.log_path.read_text()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)


_URL = re.compile(r"^actorscope serving on (http://\S+)")
_TOKEN = re.compile(r"^server token: ([0-9a-f]{16,})$")
# An instance line: "  name/key  actorId" (an empty key prints as "").
_ACTOR = re.compile(r"^  ([\w.-]+)/(\S+)\s+([0-9a-f]{20})$")

ServeFactory = Callable[..., Awaitable[ServeProcess]]


@pytest.fixture
async def serve_process(tmp_path: Path) -> AsyncIterator[ServeFactory]:
    """``await serve_process(*args, cwd=None)`` runs ``python -m actorscope serve --port 0 *args``.

    Waits for the banner (up to 30 s) and returns a ``ServeProcess`` with
    ``.url``, ``.token`` (when the banner printed one), ``.actors``
    (``"name/key" -> id``), ``.output`` (banner lines), ``.log_text()``
    (stderr so far) and ``.kill()`` (SIGKILL).
    Every process still running at teardown is killed.
    """
    started: list[ServeProcess] = []

    async def factory(*args: str, cwd: Path | None = None) -> ServeProcess:
        log_path = tmp_path / f"serve-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "actorscope",
                "serve",
                "--port",
                "0",
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=cwd,
            )
        running = ServeProcess(proc, [], log_path)
        started.append(running)
        assert proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not raw:
                raise AssertionError("serve exited early: " + "\n".join(running.output))
            line = raw.decode().rstrip("\n")
            running.output.append(line)
            if m := _URL.match(line):
                running.url = m.group(1)
            elif m := _TOKEN.match(line):
                running.token = m.group(1)
            elif m := _ACTOR.match(line):
                key = "" if m.group(2) == '""' else m.group(2)
                running.actors[f"{m.group(1)}/{key}"] = m.group(3)
            elif line.startswith("(Ctrl-C"):
                return running

    yield factory
    for running in started:
        running.kill()
        await running.proc.wait()


ClosedWith = Callable[[ClientConnection], Awaitable[tuple[int, str]]]

# Seconds to wait for each frame (or the close) while waiting for the close.
_CLOSE_TIMEOUT = 10.0


async def _closed_with(conn: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(conn.recv(), _CLOSE_TIMEOUT)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


@pytest.fixture
def closed_with() -> ClosedWith:
    """``await closed_with(conn)``: the close code and reason the server sent on ``conn``."""
    return _closed_with
