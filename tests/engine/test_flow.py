"""Loops, sleeps, queue messages, join and race."""

from __future__ import annotations

from typing import Any

from actorscope.engine import Loop, LoopBreak, LoopContinue, WorkflowContext, run_workflow
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver
from actorscope.engine.executor import load_history
from actorscope.engine.model import BranchState, EntryStatus, JoinKind, LoopKind, RaceKind
from actorscope.engine.paths import resolve_path
from actorscope.engine.queue import list_messages, send_message

WF = "wf-flow"


async def test_loop_state_is_durable_across_runs(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def body(ctx: WorkflowContext, state: dict[str, int]) -> LoopContinue | LoopBreak:
        i = state["i"]
        await ctx.step(f"reserve-{i}", calls.step(f"reserve-{i}", i * 10))
        if i == 1:
            await ctx.sleep("cool", 1)
        total = state["total"] + i * 10
        if i == 2:
            return Loop.break_(total)
        return Loop.continue_({"i": i + 1, "total": total})

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.loop("items", {"i": 0, "total": 0}, body)

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    history = await load_history(driver)
    loop = history.by_id[resolve_path(history, "items")].kind
    assert isinstance(loop, LoopKind)
    assert loop.iteration == 1
    clock.advance(1)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (result.state, result.output) == ("completed", 30)
    assert calls.names == ["reserve-0", "reserve-1", "reserve-2"]
    history = await load_history(driver)
    assert [history.path(e.id) for e in history.entries] == [
        "items",
        "items/~0/reserve-0",
        "items/~1/reserve-1",
        "items/~1/cool",
        "items/~2/reserve-2",
    ]


async def test_loop_run_must_return_continue_or_break(driver: Driver, clock: ManualClock) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.loop("bad", 0, lambda c, s: s)

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "failed"
    assert result.error is not None
    assert "Loop.continue_" in result.error


async def test_sleep_until_and_resume(driver: Driver, clock: ManualClock) -> None:
    target = clock.now_ms() / 1000 + 30

    async def wf(ctx: WorkflowContext, _: Any) -> str:
        await ctx.sleep_until("deadline", target)
        return "woke"

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (first.state, first.wake_at) == ("sleeping", round(target * 1000))
    history = await load_history(driver)
    assert history.workflow.wake_at == first.wake_at
    clock.advance(29)
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    clock.advance(1)
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == "woke"


async def test_messages_sent_early_are_kept_fifo_per_name(
    driver: Driver, clock: ManualClock
) -> None:
    await send_message(driver, "approval", {"n": 1}, clock=clock)
    await send_message(driver, "other", "x", clock=clock)
    await send_message(driver, "approval", {"n": 2}, clock=clock)

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        first = await ctx.queue.next("first", queue="approval")
        second = await ctx.queue.next("second", queue="approval")
        return [first, second]

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == [{"n": 1}, {"n": 2}]
    pending = await list_messages(driver)
    assert [(m.name, m.value) for m in pending] == [("other", "x")]
    # Ids only grow, even after messages were taken.
    later = await send_message(driver, "approval", 3, clock=clock)
    assert later.id == 3


async def test_queue_waits_for_a_message(driver: Driver, clock: ManualClock) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.queue.next("approval")

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (first.state, first.wake_at) == ("sleeping", None)
    await send_message(driver, "approval", {"ok": True}, clock=clock)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == {"ok": True}
    history = await load_history(driver)
    entry = history.by_id[resolve_path(history, "approval")]
    assert history.entry_metadata[entry.id].status is EntryStatus.COMPLETED
    assert await list_messages(driver) == []


async def test_queue_timeout_returns_none(driver: Driver, clock: ManualClock) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return {"got": await ctx.queue.next("approval", timeout=10)}

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert first.wake_at == clock.now_ms() + 10_000
    clock.advance(4)
    # The timeout counts from the first wait, not from each run.
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).wake_at == first.wake_at
    clock.advance(6)
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == {"got": None}
    history = await load_history(driver)
    meta = history.entry_metadata[resolve_path(history, "approval")]
    assert meta.error == "timed out after 10s"


async def test_join_waits_for_a_sleeping_branch(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def slow(ctx: WorkflowContext) -> Any:
        await ctx.sleep("nap", 2)
        return await ctx.step("a1", calls.step("a1"))

    async def quick(ctx: WorkflowContext) -> Any:
        return await ctx.step("b1", calls.step("b1"))

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        a, b = await ctx.join("both", {"a": slow, "b": quick})
        return {"a": a, "b": b}

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (first.state, first.wake_at) == ("sleeping", clock.now_ms() + 2000)
    history = await load_history(driver)
    join = history.by_id[resolve_path(history, "both")].kind
    assert isinstance(join, JoinKind)
    assert join.branches["a"].status is BranchState.RUNNING
    assert join.branches["b"].status is BranchState.COMPLETED
    clock.advance(2)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == {"a": "a1", "b": "b1"}
    assert calls.names == ["b1", "a1"]


async def test_join_branch_failure_fails_the_workflow(driver: Driver, clock: ManualClock) -> None:
    def broken() -> None:
        raise RuntimeError("branch broke")

    async def bad(ctx: WorkflowContext) -> Any:
        return await ctx.step("x", broken, max_retries=0)

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.join("both", {"bad": bad, "good": lambda c: 1})

    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.state == "failed"
    assert result.error is not None
    assert "both/bad/x" in result.error
    history = await load_history(driver)
    join = history.by_id[resolve_path(history, "both")].kind
    assert isinstance(join, JoinKind)
    assert join.branches["bad"].status is BranchState.FAILED
    assert join.branches["good"].status is BranchState.COMPLETED


def _approval_or_timeout() -> Any:
    async def message(ctx: WorkflowContext) -> Any:
        return await ctx.queue.next("approval")

    async def timeout(ctx: WorkflowContext) -> str:
        await ctx.sleep("limit", 5)
        return "timed out"

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.race("wait", {"message": message, "timeout": timeout})

    return wf


async def test_race_message_wins(driver: Driver, clock: ManualClock) -> None:
    wf = _approval_or_timeout()
    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (first.state, first.wake_at) == ("sleeping", clock.now_ms() + 5000)
    await send_message(driver, "approval", "yes", clock=clock)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == ["message", "yes"]
    history = await load_history(driver)
    race = history.by_id[resolve_path(history, "wait")].kind
    assert isinstance(race, RaceKind)
    assert race.winner == "message"
    assert race.branches["timeout"].status is BranchState.CANCELLED
    # Recorded winner: later runs return it without running branches.
    clock.advance(10)
    again = await run_workflow(WF, wf, None, driver, clock=clock)
    assert again.output == ["message", "yes"]


async def test_race_timeout_wins(driver: Driver, clock: ManualClock) -> None:
    wf = _approval_or_timeout()
    await run_workflow(WF, wf, None, driver, clock=clock)
    clock.advance(5)
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == ["timeout", "timed out"]
