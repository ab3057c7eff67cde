"""kill -9 during a replay: the rewind, its audit record and the restored state are one.

``replay_crash_worker.py`` is a real server in a subprocess. The test sends
it a real HTTP replay (``restoreState`` and a reason) and ``SIGKILL``s it at
each store event the replay causes, one kill per run: before the batch,
inside it between the history ops and the audit record, between the audit
record and the restored state, after it. After every kill it reads the data
directory from this process and checks that either the replay happened
entirely — history rewound, the discarded entries archived as attempt 1,
one done audit record naming that attempt and its discarded count, the state
restored — or not at all (history, state and audit as before). Then it
starts the server again on the same directory: the workflow finishes and
the state holds each step's effect exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import msgpack
from actorscope.engine import SQLiteDriver, load_history
from actorscope.engine.codec import ATTEMPT_HEAD
from actorscope.engine.model import EntryStatus

WORKER = Path(__file__).with_name("replay_crash_worker.py")
TOKEN = "crash-test-token-0123456789"
PROCESS_TIMEOUT = 120.0
ALL_STEPS = ["one", "two", "three"]


class Worker:
    """One server subprocess and what it printed."""

    def __init__(self, data: Path, pause_at: int | None) -> None:
        command = [sys.executable, str(WORKER), str(data), TOKEN]
        if pause_at is not None:
            command += ["--pause-at", str(pause_at)]
        self.stderr = (data.parent / "worker.stderr").open("w")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.watchdog = threading.Timer(PROCESS_TIMEOUT, self.proc.kill)
        self.watchdog.start()
        self.lines: list[str] = []

    def read_until(self, *tags: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.split(" ", 1)[0].strip() in tags:
                return line.rstrip("\n")
        raise AssertionError(f"worker ended before {tags}: {self.lines}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.watchdog.cancel()
        self.stderr.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


async def _settled(http: httpx.AsyncClient, actor_id: str) -> None:
    """Until the re-run is back in its sleep with every step's effect saved."""
    base = f"/gateway/{actor_id}/inspector"
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        history = (await http.get(base + "/workflow-history")).json()["history"]
        last = [history["nameRegistry"][e["location"][-1]["val"]] for e in history["entries"]]
        state = (await http.get(base + "/state")).json()["state"]
        if last[-1:] == ["rest"] and state["timeline"] == ALL_STEPS:
            return
        assert asyncio.get_running_loop().time() < deadline, (last, state)
        await asyncio.sleep(0.02)


async def _stored(db: Path, actor_id: str) -> dict[str, Any]:
    """What the data directory holds for the actor, read by this process."""
    wf = SQLiteDriver(db, f"wf/{actor_id}")
    audit = SQLiteDriver(db, f"audit/{actor_id}")
    actors = SQLiteDriver(db, "actors")
    try:
        history = await load_history(wf)
        attempts = [msgpack.unpackb(v, raw=False) for _, v in await wf.list(ATTEMPT_HEAD)]
        done = [msgpack.unpackb(v, raw=False) for _, v in await audit.list(b"d/")]
        legacy = [msgpack.unpackb(v, raw=False) for _, v in await audit.list(b"r/")]
        state_raw = await actors.get(f"state/{actor_id}".encode())
    finally:
        for driver in (wf, audit, actors):
            driver.close()
    assert state_raw is not None
    return {
        "names": [history.path(e.id) for e in history.entries],
        "statuses": [history.entry_metadata[e.id].status for e in history.entries],
        "attempts": attempts,
        "done": done + [r for r in legacy if r["result"] == "done"],
        "timeline": msgpack.unpackb(state_raw, raw=False)["timeline"],
    }


def _check(stored: dict[str, Any], replays_before: int) -> bool:
    """Either all of the replay is stored or none of it; returns whether it was."""
    attempts, done = stored["attempts"], stored["done"]
    # Every archived attempt has exactly one done record naming it, and back.
    assert sorted(a["number"] for a in attempts) == sorted(r["attempt"] for r in done), stored
    by_number = {a["number"]: a for a in attempts}
    for record in done:
        assert record["discarded"] == by_number[record["attempt"]]["entries"], stored
        assert record["state_restored"] is True and record["reason"] == "crash test"
    if len(done) == replays_before:
        # Not replayed: the history and the state as the run left them.
        assert stored["names"] == [*ALL_STEPS, "rest"], stored
        assert stored["timeline"] == ALL_STEPS, stored
        return False
    assert len(done) == replays_before + 1, stored
    # Replayed: the rewind kept "one" only, and the state is that of the boundary.
    assert stored["names"] == ["one"], stored
    assert stored["timeline"] == ["one"], stored
    return True


async def test_kill_during_a_replay_keeps_history_audit_and_state_together(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    db = data / "actorscope.sqlite"
    replays = 0
    pause_at = 1
    kills: list[str] = []
    while True:
        worker = Worker(data, pause_at)
        try:
            ready = await asyncio.to_thread(worker.read_until, "READY")
            _, url, actor_id, timeline = ready.split(" ", 3)
            # Back after every kill: each step's effect is in the state once.
            assert json.loads(timeline) == ALL_STEPS, worker.lines
            before = await _stored(db, actor_id)
            assert _check(before, replays) is False
            assert all(s is EntryStatus.COMPLETED for s in before["statuses"][:3])

            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            ) as http:
                body = {"step": "two", "restoreState": True, "reason": "crash test"}
                request = asyncio.create_task(
                    http.post(f"/gateway/{actor_id}/inspector/workflow/replay", json=body)
                )
                outcome = await asyncio.to_thread(worker.read_until, "PAUSED", "REPLAYED")
                if outcome == "REPLAYED":
                    answer = await request
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["stateRestored"] is True
                    await _settled(http, actor_id)
                worker.kill()
                if outcome != "REPLAYED":
                    request.cancel()
                    await asyncio.gather(request, return_exceptions=True)
        finally:
            worker.kill()
        if outcome == "REPLAYED":
            break
        kills.append(outcome.split(" ", 2)[2])
        if _check(await _stored(db, actor_id), replays):
            replays += 1
        pause_at += 1
        assert pause_at < 50, "the replay never ran to the end"
    # Killed before the batch, between the history and the audit record, between
    # the audit record and the state, and after the batch.
    assert any(k.startswith("before batch wf/") for k in kills), kills
    assert any(f"ops of audit/{actor_id}" in k for k in kills), kills
    assert any("ops of actors next" in k for k in kills), kills
    assert any(k.startswith("after batch wf/") for k in kills), kills
    assert replays >= 1
    # One last start: the replayed workflow finished, each effect once.
    final = Worker(data, None)
    try:
        ready = await asyncio.to_thread(final.read_until, "READY")
        assert json.loads(ready.split(" ", 3)[3]) == ALL_STEPS
    finally:
        final.kill()
    shutil.rmtree(data)
