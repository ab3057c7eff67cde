"""Subprocess side of the schedule kill -9 test (``test_schedules_crash.py``).

Runs a real actorscope server (``start_server``) with one actor, ``crashy``
(key ``k``), and prints ``URL <url>`` and ``ACTOR <id>`` once it listens;
then serves until it is killed. Every action call appends a line
``<label> <epoch ms>`` to the log file LOG (flushed and fsynced before the
action goes on), so the test counts calls across kills:

* ``mark(label)`` logs and returns;
* ``slow(label)`` logs, then sleeps an hour (the test kills it mid-action);
* ``plan(spec)`` creates the schedules ``spec`` lists and returns their ids.

Usage::

    schedule_crash_worker.py DATA_DIR LOG TOKEN [DSN]

With DSN the server is a cluster node on that PostgreSQL database (a
restart is then a new node taking the actor over once the killed one's
lease has expired); ``ACTOR`` is printed once the actor is open here.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from actorscope.server.cluster_boot import ClusterConfig
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.runner import ServerConfig, start_server

LOG = Path(sys.argv[2])
LEASE_MS = 1000


def _log(label: str) -> None:
    with LOG.open("a") as log:
        log.write(f"{label} {int(time.time() * 1000)}\n")
        log.flush()
        os.fsync(log.fileno())


def _mark(ctx: ActorContext, label: str) -> str:
    _log(label)
    return label


async def _slow(ctx: ActorContext, label: str) -> None:
    _log(label)
    await asyncio.sleep(3600)


def _plan(ctx: ActorContext, spec: list[dict[str, Any]]) -> dict[str, str]:
    ids = {}
    for item in spec:
        kind, label = item["kind"], item["label"]
        action = item.get("action", "mark")
        if kind == "after":
            ids[label] = ctx.schedule.after(item["seconds"], action, label)
        elif kind == "every":
            ids[label] = ctx.schedule.every(item["seconds"], action, label, name=label)
        else:
            ids[label] = ctx.schedule.cron(
                item["expression"], action, label, tz=item["tz"], name=label
            )
    return ids


async def main() -> None:
    registry = Registry(
        [ActorDefinition("crashy", {"n": 0}, {"mark": _mark, "slow": _slow, "plan": _plan})]
    )
    config = ServerConfig(
        registry=registry,
        data_dir=Path(sys.argv[1]),
        server_token=sys.argv[3],
        create=(("crashy", "k"),),
        cluster=None if len(sys.argv) < 5 else ClusterConfig(dsn=sys.argv[4], lease_ms=LEASE_MS),
    )
    running = await start_server(config)
    # A node may find the actor still leased by the killed one: it takes it
    # over at a tick once that lease has expired.
    while not running.directory.actors("crashy"):
        await asyncio.sleep(0.05)
    (actor,) = running.directory.actors("crashy")
    print(f"URL {running.url}", flush=True)
    print(f"ACTOR {actor.actor_id}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
