"""Schedules across ``kill -9``: a real server subprocess killed mid-fire, started again.

``schedule_crash_worker.py`` logs every action call to a file, so calls are
counted across processes. Before the kill the actor has: a one-shot whose
action is running (killed mid-action), a one-shot due while the server is
down, an every-1-s schedule, a 6-field cron every 2 s, and a cron on a
5-minute grid in Europe/Berlin. After the restart:

* nothing is lost (every recurring schedule is still listed, with its history);
* the one-shot killed mid-action never runs again; its fire is closed as
  ``error`` / ``schedule.interrupted`` (at-most-once);
* the one-shot that came due while the server was down fires exactly once;
* each recurring schedule that missed runs fires once for them, then goes on
  from the current time (a cron's next run computed from its expression).

It runs on both stores: the SQLite file, and PostgreSQL with the worker a
cluster node (the second worker is another node taking the actor over).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from actorscope.server.schedule_timing import next_cron

WORKER = Path(__file__).with_name("schedule_crash_worker.py")
TOKEN = "schedule-crash-token-0123456789"
TIMEOUT = 30.0


@attrs.define
class Worker:
    proc: asyncio.subprocess.Process
    url: str
    actor: str

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_dsn(request: pytest.FixtureRequest) -> str | None:
    """``None``: the SQLite file; else a fresh PostgreSQL database (dropped after the workers)."""
    if request.param == "sqlite":
        return None
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
async def start_worker(store_dsn: str | None, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    started: list[Worker] = []

    async def start() -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            str(tmp_path / "data"),
            str(tmp_path / "calls.log"),
            TOKEN,
            *([] if store_dsn is None else [store_dsn]),
            stdout=asyncio.subprocess.PIPE,
            stderr=(tmp_path / f"worker-{len(started)}.log").open("wb"),
        )
        assert proc.stdout is not None
        found: dict[str, str] = {}
        while len(found) < 2:
            line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
            if not line:
                raise AssertionError("the worker exited before it listened")
            word, _, value = line.strip().partition(" ")
            found[word] = value
        worker = Worker(proc, found["URL"], found["ACTOR"])
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
        await worker.proc.wait()


def calls(tmp_path: Path) -> list[tuple[str, int]]:
    path = tmp_path / "calls.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        label, at = line.split()
        out.append((label, int(at)))
    return out


async def until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def client(worker: Worker) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.AsyncClient(
        base_url=f"{worker.url}/gateway/{worker.actor}/inspector", headers=headers, timeout=TIMEOUT
    )


async def history(http: httpx.AsyncClient, schedule_id: str) -> list[dict[str, Any]]:
    r = await http.get(f"/schedules/{schedule_id}/history", params={"limit": 1000})
    assert r.status_code == 200, r.text
    fires: list[dict[str, Any]] = r.json()["history"]
    return fires


async def schedules(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in (await http.get("/schedules")).json()["schedules"]}


PLAN = [
    {"kind": "after", "seconds": 0.3, "label": "killed-mid-action", "action": "slow"},
    {"kind": "after", "seconds": 2.5, "label": "due-while-down"},
    {"kind": "every", "seconds": 1, "label": "tick"},
    {"kind": "cron", "expression": "*/2 * * * * *", "tz": "UTC", "label": "two-seconds"},
    {"kind": "cron", "expression": "*/5 * * * *", "tz": "Europe/Berlin", "label": "five-min"},
]


async def test_schedules_survive_kill_9(tmp_path: Path, start_worker: Any) -> None:
    first = await start_worker()
    async with client(first) as http:
        planned_at = int(time.time() * 1000)
        r = await http.post("/action/plan", json={"args": [PLAN]})
        assert r.status_code == 200, r.text
        ids = r.json()["output"]
        before = await schedules(http)
        assert set(before) == {
            ids["killed-mid-action"],
            ids["due-while-down"],
            "tick",
            "two-seconds",
            "five-min",
        }
        five = before["five-min"]
        assert next_cron("*/5 * * * *", "Europe/Berlin", planned_at) <= five["nextRunAt"]
        assert five["nextRunAt"] <= next_cron(
            "*/5 * * * *", "Europe/Berlin", int(time.time() * 1000)
        )
        # Kill while the one-shot's action runs (it logged its start).
        await until(
            lambda: any(label == "killed-mid-action" for label, _ in calls(tmp_path)),
            "the one-shot's action to start",
        )
        assert ids["due-while-down"] in await schedules(http)
    first.kill()
    await first.proc.wait()
    killed_at = int(time.time() * 1000)
    # Stay down until the second one-shot is due and the 1 s ticks have missed runs.
    due = before[ids["due-while-down"]]["nextRunAt"]
    await until(lambda: time.time() * 1000 > max(due, killed_at + 2500) + 200, "downtime")

    # Taken before the start: the new process fires what is due while it starts.
    restarted_at = int(time.time() * 1000)
    second = await start_worker()
    async with client(second) as http:
        # The one-shot that was due while down fires once, soon after the restart.
        fires = await until(
            lambda: _finished(http, ids["due-while-down"]), "the missed one-shot to fire"
        )
        assert [f["result"] for f in fires] == ["ok"]
        assert fires[0]["scheduledAt"] == due and fires[0]["firedAt"] >= restarted_at
        # Let each recurring schedule run on the new process after its catch-up.
        for name, runs in (("tick", 2), ("two-seconds", 1)):
            await until(
                lambda name=name, runs=runs: _ran_since(http, name, restarted_at, runs),
                f"{name} to run after the restart",
            )
        log = calls(tmp_path)
        # At-most-once: the killed one-shot ran once, ever; the missed one once.
        assert [label for label, _ in log].count("killed-mid-action") == 1
        assert [label for label, _ in log].count("due-while-down") == 1
        (interrupted,) = await history(http, ids["killed-mid-action"])
        assert interrupted["result"] == "error" and interrupted["finishedAt"] is not None
        assert (interrupted["error"]["group"], interrupted["error"]["code"]) == (
            "schedule",
            "interrupted",
        )
        after = await schedules(http)
        # Nothing lost: the recurring ones are all there (one-shots are done).
        assert {"tick", "two-seconds", "five-min"} <= set(after)
        assert ids["killed-mid-action"] not in after and ids["due-while-down"] not in after
        five_fires = await history(http, "five-min")
        if five["nextRunAt"] > int(time.time() * 1000) - 1000 and not five_fires:
            # Not due yet: its next run is exactly what it was before the kill.
            assert after["five-min"]["nextRunAt"] == five["nextRunAt"]
        else:
            # The test crossed a five-minute mark: one fire, then the next mark.
            assert [f["scheduledAt"] for f in five_fires] == [five["nextRunAt"]]
            fired = five_fires[0]["firedAt"]
            assert after["five-min"]["nextRunAt"] == next_cron(
                "*/5 * * * *", "Europe/Berlin", fired
            )
        for name, period in (("tick", 1000), ("two-seconds", 2000)):
            fires = await history(http, name)
            missed = [f for f in fires if f["scheduledAt"] < restarted_at <= f["firedAt"]]
            # Missed runs while down: exactly one catch-up fire, not one per missed run.
            assert len(missed) == 1, (name, fires)
            later = [f for f in fires if f["scheduledAt"] >= restarted_at]
            assert later, (name, fires)
            # After the catch-up, runs are back on their grid.
            grid = before[name]["nextRunAt"] % period
            assert all(f["scheduledAt"] % period == grid for f in fires), (name, fires)
            steps = [b["scheduledAt"] - a["scheduledAt"] for a, b in itertools.pairwise(later)]
            assert all(step >= period for step in steps), (name, fires)
        # The 6-field cron's next run is the expression's next after its last fire.
        current = (await schedules(http))["two-seconds"]
        last = current["lastRunAt"]
        assert current["nextRunAt"] == next_cron("*/2 * * * * *", "UTC", last)
        assert current["nextRunAt"] % 2000 == 0
        # Fires the kill cut short were closed at the restart: only a fire in
        # progress right now may still read running, and only the newest.
        for name in ("tick", "two-seconds"):
            results = [f["result"] for f in await history(http, name)]
            assert "running" not in results[:-1], (name, results)


async def _finished(http: httpx.AsyncClient, schedule_id: str) -> Any:
    fires = await history(http, schedule_id)
    return fires if fires and fires[-1]["result"] != "running" else None


async def _ran_since(http: httpx.AsyncClient, schedule_id: str, since: int, runs: int) -> bool:
    fires = await history(http, schedule_id)
    done = [f for f in fires if f["scheduledAt"] >= since and f["result"] == "ok"]
    return len(done) >= runs
