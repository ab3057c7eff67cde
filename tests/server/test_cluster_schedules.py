"""Actor schedules in a cluster: real ``actorscope serve`` nodes on one real PostgreSQL.

The app (written to the test's directory) has one actor, ``clock``, whose
action ``mark(label)`` appends ``label pid`` to a file every node shares,
so the test counts the calls each node made. A schedule made on node A
keeps firing on node B after A is killed with SIGKILL: its fire history
from A is intact, a one-shot A had not fired yet fires once on B, and no
scheduled run fires twice. Schedule reads and deletes through a node that
does not own the actor (HTTP and ``actorscope inspect schedules``) reach
the owner.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from .conftest import eventually

LEASE_MS = 1500
TOKEN = "cluster-schedule-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

APP = """
import os
import signal
from pathlib import Path

from actorscope.server.definitions import ActorDefinition, Registry

MARKS = Path(__file__).with_name("marks.log")


def mark(ctx, label):
    with MARKS.open("a") as f:
        f.write(f"{label} {os.getpid()}\\n")
        f.flush()
        os.fsync(f.fileno())
    return label


def tick_every(ctx, seconds):
    return ctx.schedule.every(seconds, "mark", "tick", name="tick")


def once_after(ctx, seconds):
    return ctx.schedule.after(seconds, "mark", "once")


def cancel(ctx, schedule_id):
    return ctx.schedule.cancel(schedule_id)


registry = Registry(
    [ActorDefinition("clock", {}, {"mark": mark, "tick_every": tick_every,
                                   "once_after": once_after, "cancel": cancel})]
)
"""


async def _node(serve_process: Any, tmp_path: Path, dsn: str, node_id: str) -> Any:
    return await serve_process(
        "clockapp:registry",
        "--create",
        "clock:k",
        "--store",
        dsn,
        "--node-id",
        node_id,
        "--lease-ms",
        str(LEASE_MS),
        "--inspector-token-file",
        str(tmp_path / "token"),
        "--data",
        str(tmp_path / node_id),
        cwd=tmp_path,
    )


async def _get(http: httpx.AsyncClient, url: str) -> Any:
    answer = await http.get(url, headers=AUTH)
    answer.raise_for_status()
    return answer.json()


async def _call(http: httpx.AsyncClient, node: Any, actor: str, action: str, *args: Any) -> Any:
    answer = await http.post(
        f"{node.url}/gateway/{actor}/inspector/action/{action}",
        json={"args": list(args)},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["output"]


async def _history(http: httpx.AsyncClient, node: Any, actor: str, sid: str) -> list[Any]:
    body = await _get(http, f"{node.url}/gateway/{actor}/inspector/schedules/{sid}/history")
    return list(body["history"])


async def _owner(http: httpx.AsyncClient, node: Any, actor: str) -> str | None:
    listing = await _get(http, f"{node.url}/actors")
    owners = {a["actor_id"]: a["node"] for a in listing["actors"]}
    return owners[actor]


def _marks(tmp_path: Path) -> list[tuple[str, int]]:
    path = tmp_path / "marks.log"
    if not path.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


async def _inspect(node: Any, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"ACTORSCOPE_URL": node.url, "ACTORSCOPE_TOKEN": TOKEN})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "inspect",
        "--name",
        "clock",
        "--key",
        "k",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_kill9_the_owner_and_its_schedules_fire_on_the_next_node(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    (tmp_path / "clockapp.py").write_text(APP)
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "token").chmod(0o600)
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    clock = a.actors["clock/k"]
    async with httpx.AsyncClient(timeout=30) as http:
        assert await _owner(http, b, clock) == "a"
        # Scheduled through b, which does not own the actor: a runs the action.
        assert await _call(http, b, clock, "tick_every", 1) == "tick"

        async def ticked_twice() -> bool:
            fires = await _history(http, b, clock, "tick")
            return len([f for f in fires if f["result"] == "ok"]) >= 2

        await eventually(ticked_twice, "the tick schedule to fire twice on a")
        code, out, err = await _inspect(b, "schedules", "--json")
        assert code == 0, err
        assert [s["id"] for s in json.loads(out)["schedules"]] == ["tick"]
        code, out, err = await _inspect(b, "schedules", "--history", "tick", "--json")
        assert code == 0, err
        assert json.loads(out)["history"][0]["result"] == "ok"
        before = await _history(http, b, clock, "tick")
        # A one-shot due in 3 s, then a dies at once: it never fired on a.
        once = await _call(http, b, clock, "once_after", 3)
        a.kill()
        await a.proc.wait()

        async def owned_by_b() -> bool:
            return await _owner(http, b, clock) == "b"

        await eventually(owned_by_b, "b to take the clock over", timeout=LEASE_MS / 1000 + 60)

        async def once_fired() -> list[Any]:
            fires = await _history(http, b, clock, once)
            return fires if fires and fires[0]["result"] != "running" else []

        (fire,) = await eventually(once_fired, "the one-shot to fire on b")
        assert fire["result"] == "ok"

        async def ticked_on_b() -> bool:
            return any(pid == b.proc.pid for label, pid in _marks(tmp_path) if label == "tick")

        await eventually(ticked_on_b, "the tick schedule to fire on b")
        fires = await _history(http, b, clock, "tick")
    # The one-shot ran once, on b; every tick call is a recorded fire; no
    # scheduled run fired twice; a's fires are still in the history.
    marks = _marks(tmp_path)
    assert [pid for label, pid in marks if label == "once"] == [b.proc.pid]
    ticks_on_a = [pid for label, pid in marks if label == "tick" and pid == a.proc.pid]
    assert len(ticks_on_a) >= 2
    scheduled = [f["scheduledAt"] for f in fires]
    assert scheduled == sorted(set(scheduled))
    ran = [f for f in fires if f["result"] == "ok"]
    ticks = [label for label, _ in marks if label == "tick"]
    assert len(ran) <= len(ticks) <= len(fires)
    for old, now in zip(before, fires, strict=False):
        assert (old["scheduledAt"], old["firedAt"]) == (now["scheduledAt"], now["firedAt"])
        assert old["result"] == now["result"] or old["result"] == "running"
    assert len(fires) > len(before)
    interrupted = [f for f in fires if f["result"] == "error"]
    assert all(f["error"]["code"] == "interrupted" for f in interrupted)
    assert len(interrupted) <= 1  # at most the fire a was running when it died


async def test_schedule_routes_through_a_non_owner_reach_the_owner(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    (tmp_path / "clockapp.py").write_text(APP)
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "token").chmod(0o600)
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    clock = a.actors["clock/k"]
    async with httpx.AsyncClient(timeout=30) as http:
        await _call(http, a, clock, "tick_every", 3600)
        listed = await _get(http, f"{b.url}/gateway/{clock}/inspector/schedules")
        assert [s["id"] for s in listed["schedules"]] == ["tick"]
        missing = await http.get(
            f"{b.url}/gateway/{clock}/inspector/schedules/nope/history", headers=AUTH
        )
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        deleted = await http.delete(
            f"{b.url}/gateway/{clock}/inspector/schedules/tick?kind=every", headers=AUTH
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"scheduleId": "tick", "deleted": True}
        for node in (a, b):
            listed = await _get(http, f"{node.url}/gateway/{clock}/inspector/schedules")
            assert listed["schedules"] == []
        code, out, err = await _inspect(b, "schedules")
        assert code == 0, err
        assert "(no schedules)" in out
        unauthorized = await http.get(
            f"{b.url}/gateway/{clock}/inspector/schedules", headers={"Authorization": "Bearer x"}
        )
        assert unauthorized.status_code == 401


async def test_a_sigstopped_owner_cannot_fire_or_record_its_schedules_after_a_takeover(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    (tmp_path / "clockapp.py").write_text(APP)
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "token").chmod(0o600)
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    clock = a.actors["clock/k"]
    async with httpx.AsyncClient(timeout=30) as http:
        await _call(http, a, clock, "tick_every", 1)

        async def ticked_on(node: Any) -> bool:
            return any(pid == node.proc.pid for label, pid in _marks(tmp_path) if label == "tick")

        await eventually(lambda: ticked_on(a), "the tick schedule to fire on a")
        # Paused past its lease: when it wakes its timer is overdue at once.
        a.proc.send_signal(signal.SIGSTOP)
        try:
            await eventually(lambda: ticked_on(b), "b to take the clock over and fire it")
        finally:
            a.proc.send_signal(signal.SIGCONT)

        async def a_dropped_it() -> bool:
            metrics = (await _get(http, f"{a.url}/nodes"))["metrics"]
            return bool(metrics["leasesLost"] >= 1 and metrics["held"] == 0)

        await eventually(a_dropped_it, "a to drop the actor whose lease it lost")
        ticks_on_b = len([1 for label, pid in _marks(tmp_path) if pid == b.proc.pid])

        async def ticked_on_b_again() -> bool:
            marks = _marks(tmp_path)
            return len([1 for label, pid in marks if pid == b.proc.pid]) >= ticks_on_b + 2

        await eventually(ticked_on_b_again, "b to go on firing")
        fires = await _history(http, a, clock, "tick")  # through a: forwarded to b now
    # Every call of the action is a recorded fire, and no run fired twice:
    # a stale owner firing again would have recorded an old run a second time.
    ticks = [label for label, _ in _marks(tmp_path) if label == "tick"]
    assert len(ticks) <= len(fires)
    scheduled = [f["scheduledAt"] for f in fires]
    assert scheduled == sorted(set(scheduled))
    assert "lost the lease of actor" in a.log_text()
