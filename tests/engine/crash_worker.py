"""Subprocess side of the crash-safety test (``test_crash.py``).

Runs one small workflow on a SQLite file and reports every *event* — each
driver write (before and after it), each step callback (before and after its
side effect), each wait for a sleep's alarm, and inside ``replay_from_step``
each driver read too — as a line ``EV <n> <description>`` on stdout.

``--pause-at N`` stops at the N-th event of this process: it prints
``PAUSED <n> <description>`` and waits for the test to ``SIGKILL`` it, so a
kill lands at an exact, repeatable instant.  ``--pause-at`` absent means run
to the end; the test may still kill the process at any moment (free-running
kills land wherever the process happens to be, e.g. inside a commit).

Each step callback appends its step name to the side-effect log *before*
returning, which is what the test compares with the recorded history.

``--host runner`` drives the workflow the way the server does, with a
``WorkflowRunner`` (its ``replay`` and its wake on the persisted wake time);
the default ``--host loop`` calls ``replay_from_step`` and ``run_workflow``
directly, sleeping until ``RunResult.wake_at`` between runs.

Usage::

    crash_worker.py DB LOG run [--pause-at N] [--host loop|runner]
    crash_worker.py DB LOG replay ENTRY_ID [--pause-at N] [--host loop|runner]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from crash_store import open_driver  # beside this script, on sys.path when it runs

from actorscope.engine import Loop, WorkflowContext, run_workflow
from actorscope.engine.driver import BatchOp
from actorscope.engine.replay import replay_from_step
from actorscope.engine.runner import WorkflowRunner

WORKFLOW_ID = "crash-wf"
INPUT = {"seed": 11}
LOOP_ITERATIONS = 6
TAIL_STEPS = 5

Workflow = Callable[[WorkflowContext, dict[str, Any]], Awaitable[dict[str, Any]]]


class _Events:
    """Counts events, prints them, and pauses at the chosen one."""

    def __init__(self, pause_at: int | None) -> None:
        self.count = 0
        self.pause_at = pause_at
        self.in_replay = False

    def __call__(self, description: str) -> None:
        self.count += 1
        if self.in_replay:
            description = "replay:" + description
        if self.count == self.pause_at:
            sys.stdout.write(f"PAUSED {self.count} {description}\n")
            sys.stdout.flush()
            while True:  # the test SIGKILLs us here
                signal.pause()
        sys.stdout.write(f"EV {self.count} {description}\n")
        sys.stdout.flush()


class _ObservedDriver:
    """A driver that reports every write (and, during a replay, every read)."""

    def __init__(self, inner: Any, events: _Events) -> None:
        self._inner = inner
        self._events = events

    async def _write(self, what: str, call: Awaitable[None]) -> None:
        self._events(f"before-{what}")
        await call
        self._events(f"after-{what}")

    def _read(self, what: str) -> None:
        if self._events.in_replay:
            self._events(f"read-{what}")

    async def get(self, key: bytes) -> bytes | None:
        self._read("get")
        return await self._inner.get(key)

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        self._read("list")
        return await self._inner.list(prefix)

    async def get_alarm(self) -> int | None:
        self._read("get_alarm")
        return await self._inner.get_alarm()

    async def set(self, key: bytes, value: bytes) -> None:
        await self._write("set", self._inner.set(key, value))

    async def delete(self, key: bytes) -> None:
        await self._write("delete", self._inner.delete(key))

    async def delete_prefix(self, prefix: bytes) -> None:
        await self._write("delete_prefix", self._inner.delete_prefix(prefix))

    async def batch(self, ops: Iterable[BatchOp]) -> None:
        await self._write("batch", self._inner.batch(ops))

    async def set_alarm(self, at_ms: int) -> None:
        await self._write("set_alarm", self._inner.set_alarm(at_ms))

    async def clear_alarm(self) -> None:
        await self._write("clear_alarm", self._inner.clear_alarm())


def _make_workflow(log_path: str, events: _Events) -> Workflow:
    def effect(name: str, result: int) -> Callable[[], int]:
        """A step callback: log ``name`` (the side effect), then return ``result``."""

        def run() -> int:
            events(f"effect-before:{name}")
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(name + "\n")
            events(f"effect-after:{name}")
            return result

        return run

    async def workflow(ctx: WorkflowContext, input: dict[str, Any]) -> dict[str, Any]:
        seed = int(input["seed"])
        a = await ctx.step("prepare", effect("prepare", seed * 3))
        b = await ctx.step("fetch", effect("fetch", a + 7))

        async def item(loop_ctx: WorkflowContext, state: list[int]) -> Any:
            i, acc = state
            value = await loop_ctx.step(f"item-{i}", effect(f"item-{i}", acc * 31 + i))
            if i == 2:
                await loop_ctx.sleep(f"pause-{i}", 0.003)
            if i % 2 == 1:
                value = await loop_ctx.step(
                    f"check-{i}", effect(f"check-{i}", (value ^ 0x5A5A) % 100_003)
                )
            if i + 1 == LOOP_ITERATIONS:
                return Loop.break_(value)
            return Loop.continue_([i + 1, value % 1_000_003])

        total = await ctx.loop("items", state=[0, b], run=item)
        await ctx.sleep("cool-down", 0.004)
        digest = await ctx.step("summarize", effect("summarize", total % 65_521))
        tail = []
        for j in range(TAIL_STEPS):
            tail.append(await ctx.step(f"tail-{j}", effect(f"tail-{j}", digest * (j + 2) % 9973)))
        return {"total": total, "digest": digest, "tail": tail}

    return workflow


async def _host_loop(
    driver: _ObservedDriver, workflow: Workflow, events: _Events, replay: str | None
) -> Any:
    if replay is not None:
        events.in_replay = True
        await replay_from_step(WORKFLOW_ID, driver, entry_id=replay)
        events.in_replay = False
        events("replayed")
    while True:
        result = await run_workflow(WORKFLOW_ID, workflow, INPUT, driver)
        if result.state != "sleeping":
            break
        events("waiting-alarm")
        wake_at = result.wake_at
        delay = 0.0 if wake_at is None else wake_at / 1000 - time.time()
        await asyncio.sleep(max(delay, 0.0))
    if result.state != "completed":
        raise SystemExit(f"workflow ended {result.state}: {result.error}")
    return result.output


async def _host_runner(
    driver: _ObservedDriver, workflow: Workflow, events: _Events, replay: str | None
) -> Any:
    runner = WorkflowRunner(WORKFLOW_ID, workflow, INPUT, driver)
    if replay is not None:
        events.in_replay = True
        await runner.replay(replay)
        events.in_replay = False
        events("replayed")
    await runner.start()
    await runner.idle()
    await runner.stop()
    if runner.last_error is not None:
        raise runner.last_error
    result = runner.last_result
    if result is None or result.state != "completed":
        raise SystemExit(f"workflow ended {result}")
    return result.output


async def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", help="a SQLite file, or postgresql://...#schema")
    parser.add_argument("log")
    parser.add_argument("mode", choices=["run", "replay"])
    parser.add_argument("entry_id", nargs="?")
    parser.add_argument("--pause-at", type=int)
    parser.add_argument("--host", choices=["loop", "runner"], default="loop")
    args = parser.parse_args(argv)
    events = _Events(args.pause_at)
    inner, close = await open_driver(args.db, WORKFLOW_ID)
    driver = _ObservedDriver(inner, events)
    workflow = _make_workflow(args.log, events)
    replay = args.entry_id if args.mode == "replay" else None
    host = _host_runner if args.host == "runner" else _host_loop
    output = await host(driver, workflow, events, replay)
    await close()
    sys.stdout.write("DONE " + json.dumps(output, sort_keys=True) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
    os._exit(0)
