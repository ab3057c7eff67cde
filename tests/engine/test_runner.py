"""WorkflowRunner: alarms, messages, replay, stop, executing-step tracking."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorscope.engine import HistoryDivergedError, WorkflowContext, run_workflow
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver
from actorscope.engine.errors import ReplayInFlight
from actorscope.engine.executor import load_history
from actorscope.engine.memory_driver import MemoryDriver
from actorscope.engine.paths import resolve_path
from actorscope.engine.runner import WorkflowRunner
from actorscope.engine.snapshot import HistorySnapshot

WF = "wf-runner"


class RecordingClock(ManualClock):
    """A manual clock that remembers how long the runner asked to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await super().sleep(seconds)


async def _idle(runner: WorkflowRunner) -> None:
    await asyncio.wait_for(runner.idle(), 5)


async def test_restarted_runner_resumes_on_persisted_alarm(driver: Driver, calls: Any) -> None:
    clock = RecordingClock()

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("before", calls.step("before"))
        await ctx.sleep("cool-down", 2.0)
        return await ctx.step("after", calls.step("after"))

    # A previous process ran the workflow until it slept, then went away.
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    clock.advance(0.5)
    runner = WorkflowRunner(WF, wf, None, driver, clock=clock)
    await runner.start()
    await _idle(runner)
    assert runner.state == "completed"
    assert runner.last_result is not None
    assert runner.last_result.output == "after"
    assert clock.waits == [1.5]
    assert calls.names == ["before", "after"]
    await runner.stop()


async def test_send_wakes_a_workflow_waiting_for_a_message(
    driver: Driver, clock: ManualClock
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.queue.next("approval")

    runner = WorkflowRunner(WF, wf, None, driver, clock=clock)
    await runner.start()
    await _idle(runner)
    assert runner.state == "sleeping"
    message = await runner.send("approval", {"ok": True})
    assert message.name == "approval"
    await _idle(runner)
    assert runner.state == "completed"
    assert runner.last_result is not None
    assert runner.last_result.output == {"ok": True}
    await runner.send("late", 1)
    assert [(m.name, m.value) for m in await runner.queue_messages()] == [("late", 1)]
    await runner.stop()


async def test_replay_rewinds_and_wakes(driver: Driver, clock: ManualClock, calls: Any) -> None:
    seen: list[HistorySnapshot] = []

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", calls.step("one"))
        return await ctx.step("two", calls.step("two"))

    runner = WorkflowRunner(WF, wf, None, driver, clock=clock, on_history_updated=seen.append)
    await runner.start()
    await _idle(runner)
    assert runner.state == "completed"
    calls.clear()
    two = resolve_path(await runner.history(), "two")
    rewound = await runner.replay(two)
    assert [rewound.path(e.id) for e in rewound.entries] == ["one"]
    assert any(s.workflow.state == "sleeping" and len(s.entries) == 1 for s in seen)
    await _idle(runner)
    assert runner.state == "completed"
    assert calls.names == ["two"]
    assert seen[-1] == await load_history(driver)
    await runner.stop()


async def test_executing_step_blocks_replay_and_stop_cancels_it(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def blocked() -> str:
        calls.names.append("blocked")
        entered.set()
        await release.wait()
        return "done"

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("first", calls.step("first"))
        return await ctx.step("blocked", blocked)

    runner = WorkflowRunner(WF, wf, None, driver, clock=clock)
    assert not runner.is_executing_step
    await runner.start()
    await asyncio.wait_for(entered.wait(), 5)
    assert runner.is_executing_step
    before = await driver.list(b"")
    with pytest.raises(ReplayInFlight):
        await runner.replay()
    assert await driver.list(b"") == before
    await runner.stop()
    assert not runner.is_executing_step
    assert not runner.running
    # The step never recorded completion, so a new runner runs it again.
    entered.clear()
    release.set()
    again = WorkflowRunner(WF, wf, None, driver, clock=clock)
    await again.start()
    await _idle(again)
    assert again.state == "completed"
    assert calls.names == ["first", "blocked", "blocked"]
    await again.stop()


async def test_run_errors_are_kept_and_the_runner_survives(
    driver: Driver, clock: ManualClock
) -> None:
    async def v1(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", lambda: 1)
        await ctx.queue.next("go")

    async def v2(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("other", lambda: 1)

    await run_workflow(WF, v1, None, driver, clock=clock)
    runner = WorkflowRunner(WF, v2, None, driver, clock=clock)
    await runner.start()
    await _idle(runner)
    assert isinstance(runner.last_error, HistoryDivergedError)
    assert runner.running
    await runner.replay()
    await _idle(runner)
    assert runner.last_error is None
    assert runner.state == "completed"
    await runner.stop()


async def test_env_reaches_step_callbacks(driver: Driver, clock: ManualClock) -> None:
    actor_state: list[str] = []

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("append", lambda: ctx.env.append("from-step"))
        return len(ctx.env)

    runner = WorkflowRunner(WF, wf, None, driver, clock=clock, env=actor_state)
    await runner.start()
    await _idle(runner)
    assert actor_state == ["from-step"]
    assert runner.last_result is not None
    assert runner.last_result.output == 1
    await runner.stop()


class _FlakyDriver(MemoryDriver):
    """Memory whose next ``failures`` batches fail before writing anything."""

    __slots__ = ("failures",)

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def batch(self, ops: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database went away")
        await super().batch(ops)


async def test_a_run_failing_on_a_passing_storage_error_is_tried_again(calls: Any) -> None:
    clock = RecordingClock()
    driver = _FlakyDriver(failures=0)

    armed = [True]

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", calls.step("one"))
        if armed.pop() if armed else False:
            driver.failures = 2  # the next two writes fail: two runs fail
        return await ctx.step("two", calls.step("two"))

    def retry_after(exc: BaseException) -> float | None:
        return 0.25 if isinstance(exc, ConnectionError) else None

    runner = WorkflowRunner(WF, wf, None, driver, clock=clock, retry_after=retry_after)
    await runner.start()
    await _idle(runner)
    await runner.stop()
    assert runner.state == "completed"
    assert runner.last_result is not None and runner.last_result.output == "two"
    # Each failed run waited the delay, then resumed from the persisted history.
    assert clock.waits == [0.25, 0.25]
    assert calls.names == ["one", "two", "two", "two"]
    history = await load_history(driver)
    assert [e.location for e in history.entries] == [(0,), (1,)]
    # The storage's errors were never taken for the workflow's own failure.
    assert all(history.entry_metadata[e.id].error is None for e in history.entries)


async def test_without_retry_after_a_failed_run_waits_for_a_wake(calls: Any) -> None:
    driver = _FlakyDriver(failures=1)

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.step("one", calls.step("one"))

    runner = WorkflowRunner(WF, wf, None, driver, clock=RecordingClock())
    await runner.start()
    await _idle(runner)
    assert isinstance(runner.last_error, ConnectionError)
    runner.wake()
    await _idle(runner)
    await runner.stop()
    assert runner.state == "completed"
