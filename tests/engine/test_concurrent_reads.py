"""A history read while the workflow runs, on a driver whose reads await I/O.

The PostgreSQL driver's reads each go to the database and yield to the event
loop, so the workflow's own writes can commit between two reads of one
history load (SQLite's and memory's reads never yield). Such a load used to
pair entries read *before* a write with the version token read *after* it;
cached under that token, the stale history was taken as current: the
inspector showed the workflow stuck (``bench/cluster.py`` "stopped at 19 of
20 steps") and the next run would have executed recorded steps again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actorscope.engine import WorkflowContext, codec
from actorscope.engine.clock import ManualClock
from actorscope.engine.execution import clear_cache
from actorscope.engine.executor import load_history
from actorscope.engine.memory_driver import MemoryDriver
from actorscope.engine.model import StepKind
from actorscope.engine.runner import WorkflowRunner

WF = "wf-concurrent-reads"


class IoDriver(MemoryDriver):
    """Memory, but every read yields to the event loop (as a network read does).

    ``hold(key)`` parks the next read of ``key`` until the returned event is set.
    """

    __slots__ = ("_held", "reached")

    def __init__(self) -> None:
        super().__init__()
        self._held: dict[bytes, asyncio.Event] = {}
        self.reached: dict[bytes, asyncio.Event] = {}

    def hold(self, key: bytes) -> asyncio.Event:
        release = self._held[key] = asyncio.Event()
        self.reached[key] = asyncio.Event()
        return release

    async def _pause(self, key: bytes) -> None:
        await asyncio.sleep(0)
        release = self._held.pop(key, None)
        if release is not None:
            self.reached[key].set()
            await release.wait()

    async def get(self, key: bytes) -> bytes | None:
        await self._pause(key)
        return await super().get(key)

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        await self._pause(prefix)
        return await super().list(prefix)


class GateClock(ManualClock):
    """A manual clock whose sleeps last until ``open()`` (then jump the time forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.gate.wait()
        await super().sleep(seconds)


def _steps(history: Any) -> list[str]:
    return [history.path(e.id) for e in history.entries if isinstance(e.kind, StepKind)]


async def _until(condition: Any) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), 10)


async def test_a_history_read_during_a_run_never_hides_later_steps() -> None:
    clear_cache()
    driver = IoDriver()
    runs: list[str] = []
    in_b = asyncio.Event()
    finish_b = asyncio.Event()

    async def slow_b() -> str:
        in_b.set()
        await finish_b.wait()
        runs.append("b")
        return "b"

    def record(name: str) -> Any:
        def fn() -> str:
            runs.append(name)
            return name

        return fn

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("a", record("a"))
        await ctx.step("b", slow_b)
        await ctx.step("c", record("c"))
        await ctx.sleep("rest", 60)
        await ctx.step("d", record("d"))

    clock = GateClock()
    runner = WorkflowRunner(WF, wf, None, driver, clock=clock)
    await runner.start()
    await asyncio.wait_for(in_b.wait(), 10)
    # An inspector reads the history while step "b" runs; its load is held at
    # the read of the checkpoints (the last part of a load before the version).
    release = driver.hold(codec.CHECKPOINT)
    reader = asyncio.ensure_future(load_history(driver, WF))
    await asyncio.wait_for(driver.reached[codec.CHECKPOINT].wait(), 10)
    # Meanwhile the run finishes its steps and goes to sleep.
    finish_b.set()

    async def asleep() -> bool:
        raw = MemoryDriver.get(driver, codec.WORKFLOW)
        record_raw = await raw
        return record_raw is not None and codec.decode_record(record_raw).state == "sleeping"

    await _until(asleep)
    release.set()
    await asyncio.wait_for(reader, 10)

    # Every later read shows every step the run recorded.
    assert _steps(await load_history(driver, WF)) == ["a", "b", "c"]
    # And when its sleep ends, the workflow goes on from there: no recorded
    # step is executed a second time.
    clock.gate.set()
    await asyncio.wait_for(runner.idle(), 10)
    await runner.stop()
    assert runner.state == "completed"
    assert runs == ["a", "b", "c", "d"]
    assert _steps(await load_history(driver, WF)) == ["a", "b", "c", "d"]
