"""Steps: recording, retries with backoff, exhaustion, rollback, determinism."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorscope.engine import (
    DuplicateNameError,
    HistoryDivergedError,
    Loop,
    LoopBreak,
    StepExhausted,
    WorkflowContext,
    run_workflow,
)
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver
from actorscope.engine.executor import load_history
from actorscope.engine.model import EntryStatus, RemovedKind
from actorscope.engine.paths import resolve_path
from actorscope.engine.retry import backoff_ms

WF = "wf-steps"


async def test_completed_steps_never_rerun(driver: Driver, clock: ManualClock, calls: Any) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        a = await ctx.step("sync", calls.step("sync", (1, 2)))

        async def later() -> dict[str, int]:
            calls.names.append("async")
            return {"n": 3}

        b = await ctx.step("async", later)
        await ctx.sleep("nap", 5)
        return [a, b]

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert first.state == "sleeping"
    clock.advance(5)
    second = await run_workflow(WF, wf, None, driver, clock=clock)
    assert second.state == "completed"
    # Tuples come back as lists on the first run too: values are the recorded ones.
    assert second.output == [[1, 2], {"n": 3}]
    assert calls.names == ["sync", "async"]
    again = await run_workflow(WF, wf, None, driver, clock=clock)
    assert again.output == second.output
    assert calls.names == ["sync", "async"]


async def test_input_is_persisted_on_first_run(driver: Driver, clock: ManualClock) -> None:
    seen = []

    async def wf(ctx: WorkflowContext, input: Any) -> Any:
        seen.append(input)
        await ctx.sleep("nap", 1)
        return input

    await run_workflow(WF, wf, {"id": 7}, driver, clock=clock)
    clock.advance(1)
    result = await run_workflow(WF, wf, {"id": 8}, driver, clock=clock)
    assert result.output == {"id": 7}
    assert seen == [{"id": 7}, {"id": 7}]


async def test_retries_sleep_with_exponential_backoff(driver: Driver, clock: ManualClock) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(clock.now_ms())
        if len(attempts) < 4:
            raise ValueError(f"attempt {len(attempts)}")
        return "ok"

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.step("flaky", flaky)

    start = clock.now_ms()
    waits = []
    for expected in (100, 200, 400):
        result = await run_workflow(WF, wf, None, driver, clock=clock)
        # ENGINE.md: a failed attempt is not a failed run.
        assert result.state == "sleeping"
        assert result.wake_at is not None
        assert await driver.get_alarm() == result.wake_at
        waits.append(result.wake_at - clock.now_ms())
        history = await load_history(driver)
        meta = history.entry_metadata[resolve_path(history, "flaky")]
        assert meta.status is EntryStatus.FAILED
        assert meta.error == f"ValueError: attempt {len(attempts)}"
        # Waking early does not run the step again.
        assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
        clock.advance(expected / 1000)
    assert waits == [100, 200, 400]
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (result.state, result.output) == ("completed", "ok")
    assert [t - start for t in attempts] == [0, 100, 300, 700]
    history = await load_history(driver)
    assert history.entry_metadata[resolve_path(history, "flaky")].attempts == 4


def test_backoff_is_capped() -> None:
    assert [backoff_ms(n) for n in (1, 2, 3)] == [100, 200, 400]
    assert backoff_ms(20) == 30_000


async def test_exhausted_step_rolls_back_to_latest_checkpoint(
    driver: Driver, clock: ManualClock
) -> None:
    rolled: list[Any] = []

    def undo(name: str) -> Any:
        def rollback(output: Any) -> None:
            rolled.append((name, output))

        return rollback

    async def async_undo(output: Any) -> None:
        rolled.append(("s3", output))

    def broken() -> None:
        raise RuntimeError("card declined")

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("s0", lambda: 0, rollback=undo("s0"))
        ctx.rollback_checkpoint("start")
        await ctx.step("s1", lambda: 1, rollback=undo("s1"))
        await ctx.step("s2", lambda: 2)  # no rollback callback
        await ctx.step("s3", lambda: 3, rollback=async_undo)
        await ctx.step("charge", broken, max_retries=1)

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    clock.advance(0.1)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "failed"
    assert result.error is not None
    assert "charge" in result.error
    assert "card declined" in result.error
    assert rolled == [("s3", 3), ("s1", 1)]
    history = await load_history(driver)
    meta = history.entry_metadata
    assert meta[resolve_path(history, "charge")].status is EntryStatus.EXHAUSTED
    assert meta[resolve_path(history, "s3")].rollback_completed_at == clock.now_ms()
    assert meta[resolve_path(history, "s0")].rollback_completed_at is None
    assert history.workflow.state == "failed"
    assert await driver.get_alarm() is None
    # A failed workflow stays failed: running it again does nothing.
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "failed"
    assert len(rolled) == 2


async def test_rollback_error_is_recorded(driver: Driver, clock: ManualClock) -> None:
    def bad_rollback(_: Any) -> None:
        raise OSError("refund service down")

    def broken() -> None:
        raise RuntimeError("nope")

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("pay", lambda: 5, rollback=bad_rollback)
        await ctx.step("ship", broken, max_retries=0)

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "failed"
    history = await load_history(driver)
    meta = history.entry_metadata[resolve_path(history, "pay")]
    assert meta.rollback_error == "OSError: refund service down"


async def test_step_exhausted_can_be_caught(driver: Driver, clock: ManualClock) -> None:
    def broken() -> None:
        raise RuntimeError("nope")

    async def wf(ctx: WorkflowContext, _: Any) -> str:
        try:
            await ctx.step("risky", broken, max_retries=0)
        except StepExhausted as exc:
            assert exc.location == "risky"
            assert exc.attempts == 1
            return "recovered"
        return "unreachable"

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == "recovered"
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == "recovered"


async def test_step_timeout_fails_the_attempt(driver: Driver, clock: ManualClock) -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("hang", hangs, timeout=0.01, max_retries=0)

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "failed"
    assert result.error is not None
    assert "timed out after 0.01s" in result.error


async def test_workflow_exception_fails_the_run(driver: Driver, clock: ManualClock) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: 1)
        raise KeyError("missing")

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (result.state, result.error) == ("failed", "KeyError: 'missing'")


async def test_changed_code_raises_history_diverged(driver: Driver, clock: ManualClock) -> None:
    async def v1(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: 1)
        await ctx.step("two", lambda: 2)
        await ctx.sleep("nap", 10)

    async def v2(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: 1)
        await ctx.step("three", lambda: 3)

    async def v3(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: 1)

        async def body(c: WorkflowContext, s: int) -> LoopBreak:
            return Loop.break_(s)

        await ctx.loop("two", 0, body)

    assert (await run_workflow(WF, v1, None, driver, clock=clock)).state == "sleeping"
    before = await driver.list(b"")
    with pytest.raises(HistoryDivergedError) as info:
        await run_workflow(WF, v2, None, driver, clock=clock)
    assert info.value.location == "two"
    assert info.value.recorded == "step 'two'"
    assert info.value.requested == "step 'three'"
    assert "'two'" in str(info.value)
    with pytest.raises(
        HistoryDivergedError, match="recorded step 'two', code asked for loop 'two'"
    ):
        await run_workflow(WF, v3, None, driver, clock=clock)
    assert await driver.list(b"") == before
    clock.advance(10)
    assert (await run_workflow(WF, v1, None, driver, clock=clock)).state == "completed"


async def test_removed_placeholder_skips_a_deleted_step(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def v1(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        await ctx.step("two", calls.step("two"))
        await ctx.sleep("nap", 1)
        await ctx.step("three", calls.step("three"))

    async def v2(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        ctx.removed("two", "step")
        await ctx.sleep("nap", 1)
        await ctx.step("three", calls.step("three"))

    await run_workflow(WF, v1, None, driver, clock=clock)
    clock.advance(1)
    assert (await run_workflow(WF, v2, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["one", "two", "three"]


async def test_removed_placeholder_recorded_on_new_history(clock: ManualClock) -> None:
    from actorscope.engine import MemoryDriver

    driver = MemoryDriver()

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        ctx.removed("old-step", "step")
        await ctx.step("new", lambda: 1)

    await run_workflow(WF, wf, None, driver, clock=clock)
    history = await load_history(driver)
    removed = history.by_id[resolve_path(history, "old-step")]
    assert removed.kind == RemovedKind("step", "old-step")
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"

    async def bad(ctx: WorkflowContext, _: Any) -> None:
        ctx.removed("x", "stepp")

    result = await run_workflow("wf-bad", bad, None, MemoryDriver(), clock=clock)
    assert result.state == "failed"
    assert result.error is not None
    assert "unknown entry kind 'stepp'" in result.error


async def test_name_reuse_at_same_parent_is_an_error(driver: Driver, clock: ManualClock) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("same", lambda: 1)
        await ctx.step("same", lambda: 2)

    with pytest.raises(DuplicateNameError, match="'same'"):
        await run_workflow(WF, wf, None, driver, clock=clock)


async def test_rollback_reaches_steps_of_earlier_runs_in_loops_and_joins(
    driver: Driver, clock: ManualClock
) -> None:
    rolled: list[Any] = []

    def undo(output: Any) -> None:
        rolled.append(output)

    def broken() -> None:
        raise RuntimeError("payment failed")

    async def body(ctx: WorkflowContext, i: int) -> Any:
        await ctx.step(f"reserve-{i}", lambda: f"r{i}", rollback=undo)
        await ctx.sleep("wait", 1)  # every iteration ends a run
        return Loop.continue_(i + 1) if i < 2 else Loop.break_(i)

    async def branch(ctx: WorkflowContext) -> Any:
        return await ctx.step("hold", lambda: "h", rollback=undo)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("before", lambda: "b", rollback=undo)
        await ctx.loop("items", 0, body)
        await ctx.join("both", {"x": branch})
        await ctx.sleep("settle", 1)
        await ctx.step("pay", broken, max_retries=0)

    runs = 0
    while (result := await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping":
        runs += 1
        clock.advance(1)
    assert runs == 4
    assert result.state == "failed"
    # The failing run resumed after the loop and the join: their steps were
    # recorded by earlier runs, yet every rollback runs, newest first.
    assert rolled == ["h", "r2", "r1", "r0", "b"]
    history = await load_history(driver)
    for path in ("before", "items/~0/reserve-0", "items/~2/reserve-2", "both/x/hold"):
        assert history.entry_metadata[resolve_path(history, path)].rollback_completed_at


async def test_changed_join_branches_diverge(driver: Driver, clock: ManualClock) -> None:
    async def v1(ctx: WorkflowContext, _: Any) -> None:
        await ctx.join("both", {"a": lambda c: 1, "b": lambda c: 2})
        await ctx.sleep("nap", 1)

    async def v2(ctx: WorkflowContext, _: Any) -> None:
        await ctx.join("both", {"a": lambda c: 1, "c": lambda c: 3})

    await run_workflow(WF, v1, None, driver, clock=clock)
    with pytest.raises(HistoryDivergedError, match=r"join with branches \['a', 'b'\]"):
        await run_workflow(WF, v2, None, driver, clock=clock)


async def test_a_second_concurrent_run_is_refused(driver: Driver, clock: ManualClock) -> None:
    from actorscope.engine.errors import WorkflowBusy

    entered, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        entered.set()
        await release.wait()
        return 1

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.step("slow", slow)

    first = asyncio.create_task(run_workflow(WF, wf, None, driver, clock=clock))
    await asyncio.wait_for(entered.wait(), 5)
    with pytest.raises(WorkflowBusy, match=WF):
        await run_workflow(WF, wf, None, driver, clock=clock)
    release.set()
    assert (await first).output == 1
