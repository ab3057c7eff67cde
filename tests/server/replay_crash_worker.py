"""Subprocess side of ``test_replay_crash.py``: a real server whose store writes can pause.

Starts ``start_server`` on a loopback port with one actor, ``ledger`` (state
checkpoints on; steps ``one``, ``two``, ``three`` append their names to the
state's ``timeline``, then a one-hour sleep ``rest``), waits until the
workflow sleeps with everything saved, and prints::

    READY <url> <actor id> <timeline as JSON>

From the moment a replay request reaches the operator until it returns, every
store event is reported as ``EV <n> <description>``: each SQLite batch
(before and after it) and, inside a batch, the switch to another
namespace's ops (the audit record, the restored state). At event
``--pause-at N`` it prints ``PAUSED <n> <description>`` and blocks the whole
process (the test ``SIGKILL``s it there). A replay that ran to the end prints
``REPLAYED``.

Usage::

    replay_crash_worker.py DATA_DIR TOKEN [--pause-at N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from actorscope.engine import SQLiteDriver, WorkflowContext
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.replay_ops import ReplayOperator
from actorscope.server.runner import ServerConfig, start_server

STEPS = ("one", "two", "three")


async def _ledger(ctx: WorkflowContext, actor: ActorContext) -> None:
    for name in STEPS:
        await ctx.step(name, lambda name=name: actor.state["timeline"].append(name))
    await ctx.sleep("rest", 3600)


class _Events:
    def __init__(self, pause_at: int | None) -> None:
        self.pause_at = pause_at
        self.armed = False
        self.count = 0

    def __call__(self, description: str) -> None:
        if not self.armed:
            return
        self.count += 1
        if self.count == self.pause_at:
            print(f"PAUSED {self.count} {description}", flush=True)
            time.sleep(3600)  # blocks the event loop: nothing else happens
        print(f"EV {self.count} {description}", flush=True)


def _instrument(events: _Events) -> None:
    batch = SQLiteDriver.batch
    apply = SQLiteDriver._apply

    async def counted_batch(self: SQLiteDriver, ops: Any) -> None:
        ops = list(ops)
        events(f"before batch {self.namespace} ({len(ops)} ops)")
        await batch(self, ops)
        events(f"after batch {self.namespace}")

    def counted_apply(self: SQLiteDriver, *args: Any) -> None:
        if len(args) > 2 and args[2] is not None:
            events(f"inside batch of {self.namespace}: ops of {args[2]} next")
        apply(self, *args)

    replay = ReplayOperator.replay

    async def armed_replay(self: ReplayOperator, *args: Any, **kwargs: Any) -> Any:
        events.armed = True
        try:
            return await replay(self, *args, **kwargs)
        finally:
            events.armed = False
            print("REPLAYED", flush=True)

    SQLiteDriver.batch = counted_batch  # type: ignore[method-assign]
    SQLiteDriver._apply = counted_apply  # type: ignore[method-assign]
    ReplayOperator.replay = armed_replay  # type: ignore[method-assign]


async def _main(data_dir: Path, token: str, pause_at: int | None) -> None:
    _instrument(_Events(pause_at))
    registry = Registry(
        [ActorDefinition("ledger", {"timeline": []}, workflow=_ledger, state_checkpoints=True)]
    )
    server = await start_server(
        ServerConfig(
            registry=registry, data_dir=data_dir, server_token=token, create=(("ledger", "k"),)
        )
    )
    [actor] = server.directory.actors()
    assert actor.workflow is not None
    deadline = time.monotonic() + 60
    while True:
        history = await actor.workflow_history()
        assert history is not None
        names = [history.path(e.id) for e in history.entries]
        if names[-1:] == ["rest"] and history.workflow.state.value == "sleeping":
            await asyncio.sleep(0.1)  # the state save after the last write
            break
        assert time.monotonic() < deadline, names
        await asyncio.sleep(0.02)
    timeline = json.dumps(actor.state()["timeline"])
    print(f"READY {server.url} {actor.actor_id} {timeline}", flush=True)
    await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("token")
    parser.add_argument("--pause-at", type=int)
    args = parser.parse_args()
    asyncio.run(_main(args.data_dir, args.token, args.pause_at))


if __name__ == "__main__":
    sys.exit(main())
