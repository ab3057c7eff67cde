"""The worked examples at the end of ENGINE.md "Replay from a step", one test each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorscope.engine import Loop, LoopBreak, LoopContinue, WorkflowContext, run_workflow
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver
from actorscope.engine.errors import ReplayInFlight
from actorscope.engine.executor import load_history
from actorscope.engine.paths import resolve_path
from actorscope.engine.replay import replay_from_step

WF = "wf-examples"


async def _id(driver: Driver, path: str) -> str:
    return resolve_path(await load_history(driver), path)


def _paths(snapshot: Any) -> list[str]:
    return [snapshot.path(e.id) for e in snapshot.entries]


async def test_replay_from_middle_step_keeps_earlier_steps(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        for name in ("one", "two", "three"):
            await ctx.step(name, calls.step(name))

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    calls.clear()
    snapshot = await replay_from_step(WF, driver, await _id(driver, "two"), clock=clock)
    assert _paths(snapshot) == ["one"]
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["two", "three"]


async def test_replay_without_id_reruns_everything(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        await ctx.step("two", calls.step("two"))

    await run_workflow(WF, wf, None, driver, clock=clock)
    calls.clear()
    snapshot = await replay_from_step(WF, driver, clock=clock)
    assert snapshot.entries == ()
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["one", "two"]


def _loop_workflow(calls: Any, *, sleep_last: bool) -> Any:
    async def body(ctx: WorkflowContext, i: int) -> LoopContinue | LoopBreak:
        await ctx.step(f"loop-step-{i}", calls.step(f"loop-step-{i}"))
        if i == 1:
            if sleep_last:
                await ctx.sleep("pause", 0.02)
            return Loop.break_(i)
        return Loop.continue_(i + 1)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("before", calls.step("before"))
        await ctx.loop("repeat", 0, body)
        await ctx.step("after", calls.step("after"))

    return wf


async def test_replay_inside_loop_restarts_the_loop(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    wf = _loop_workflow(calls, sleep_last=False)
    await run_workflow(WF, wf, None, driver, clock=clock)
    assert calls.names == ["before", "loop-step-0", "loop-step-1", "after"]
    calls.clear()
    snapshot = await replay_from_step(
        WF, driver, await _id(driver, "repeat/~1/loop-step-1"), clock=clock
    )
    assert _paths(snapshot) == ["before"]
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["loop-step-0", "loop-step-1", "after"]


async def test_replay_while_sleeping_in_loop(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    wf = _loop_workflow(calls, sleep_last=True)
    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert first.state == "sleeping"
    assert first.wake_at == clock.now_ms() + 20
    calls.clear()
    await replay_from_step(WF, driver, await _id(driver, "repeat/~1/loop-step-1"), clock=clock)
    again = await run_workflow(WF, wf, None, driver, clock=clock)
    assert again.state == "sleeping"
    assert calls.names == ["loop-step-0", "loop-step-1"]
    clock.advance(0.02)
    done = await run_workflow(WF, wf, None, driver, clock=clock)
    assert done.state == "completed"
    assert calls.names == ["loop-step-0", "loop-step-1", "after"]


async def test_replay_refused_while_step_callback_blocks(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def blocked() -> str:
        entered.set()
        await release.wait()
        return "done"

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("first", calls.step("first"))
        await ctx.step("blocked", blocked)

    run = asyncio.create_task(run_workflow(WF, wf, None, driver, clock=clock))
    await asyncio.wait_for(entered.wait(), 5)
    before = await driver.list(b"")
    alarm = await driver.get_alarm()
    with pytest.raises(ReplayInFlight, match="blocked"):
        await replay_from_step(WF, driver, clock=clock)
    assert await driver.list(b"") == before
    assert await driver.get_alarm() == alarm
    release.set()
    assert (await run).state == "completed"


async def test_nested_loop_boundary_moves_out_when_outer_finished(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def inner(ctx: WorkflowContext, state: list[int]) -> LoopContinue | LoopBreak:
        o, i = state
        await ctx.step(f"s-{o}-{i}", calls.step(f"s-{o}-{i}"))
        return Loop.continue_([o, i + 1]) if i < 1 else Loop.break_(None)

    async def outer(ctx: WorkflowContext, o: int) -> LoopContinue | LoopBreak:
        await ctx.loop("inner", [o, 0], inner)
        return Loop.continue_(o + 1) if o < 1 else Loop.break_(None)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.loop("outer", 0, outer)
        await ctx.step("after", calls.step("after"))

    await run_workflow(WF, wf, None, driver, clock=clock)
    calls.clear()
    target = await _id(driver, "outer/~1/inner/~1/s-1-1")
    snapshot = await replay_from_step(WF, driver, target, clock=clock)
    assert snapshot.entries == ()
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["s-0-0", "s-0-1", "s-1-0", "s-1-1", "after"]


async def test_replay_inside_join_branch_keeps_sibling_results(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def branch_a(ctx: WorkflowContext) -> str:
        await ctx.step("a1", calls.step("a1"))
        return str(await ctx.step("a2", calls.step("a2")))

    async def branch_b(ctx: WorkflowContext) -> str:
        return str(await ctx.step("b1", calls.step("b1")))

    async def wf(ctx: WorkflowContext, _: Any) -> list[str]:
        a, b = await ctx.join("both", {"a": branch_a, "b": branch_b})
        await ctx.step("after", calls.step("after"))
        return [a, b]

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == ["a2", "b1"]
    history = await load_history(driver)
    seq = {history.path(e.id): e.seq for e in history.entries}
    calls.clear()
    await replay_from_step(WF, driver, resolve_path(history, "both/a/a2"), clock=clock)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "completed"
    assert result.output == ["a2", "b1"]
    b1_after_a2 = seq["both/b/b1"] > seq["both/a/a2"]
    assert calls.names == (["a2", "b1", "after"] if b1_after_a2 else ["a2", "after"])
    assert "a1" not in calls.names
