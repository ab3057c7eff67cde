"""replay_from_step beyond the worked examples (ENGINE.md rules 1-8)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actorscope.engine import Loop, LoopBreak, LoopContinue, WorkflowContext, run_workflow
from actorscope.engine.attempts import list_attempts, load_attempt
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver
from actorscope.engine.errors import (
    AttemptNotFound,
    ReplayInFlight,
    ReplayTargetNotStep,
    StepNotFound,
)
from actorscope.engine.executor import load_history
from actorscope.engine.model import BranchState, EntryStatus, JoinKind
from actorscope.engine.paths import resolve_path
from actorscope.engine.replay import plan_replay, replay_from_step
from actorscope.engine.snapshot import HistorySnapshot

WF = "wf-replay"


def _paths(snapshot: HistorySnapshot) -> list[str]:
    return [snapshot.path(e.id) for e in snapshot.entries]


async def test_nested_loop_inner_rewinds_outer_keeps_iteration(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def inner(ctx: WorkflowContext, state: list[int]) -> LoopContinue | LoopBreak:
        o, i = state
        await ctx.step(f"s-{o}-{i}", calls.step(f"s-{o}-{i}"))
        return Loop.continue_([o, i + 1]) if i < 1 else Loop.break_(None)

    async def outer(ctx: WorkflowContext, o: int) -> LoopContinue | LoopBreak:
        await ctx.loop("inner", [o, 0], inner)
        if o == 1:
            await ctx.sleep("nap", 1.0)
            return Loop.break_(o)
        return Loop.continue_(o + 1)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.loop("outer", 0, outer)
        await ctx.step("after", calls.step("after"))

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    history = await load_history(driver)
    target = resolve_path(history, "outer/~1/inner/~0/s-1-0")
    plan = plan_replay(history, target)
    assert plan.boundary_id == resolve_path(history, "outer/~1/inner")
    calls.clear()
    snapshot = await replay_from_step(WF, driver, target, clock=clock)
    assert _paths(snapshot) == [
        "outer",
        "outer/~0/inner",
        "outer/~0/inner/~0/s-0-0",
        "outer/~0/inner/~1/s-0-1",
    ]
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "sleeping"
    assert calls.names == ["s-1-0", "s-1-1"]
    clock.advance(1)
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["s-1-0", "s-1-1", "after"]


async def test_join_branch_replay_keeps_sibling_recorded_before(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def branch_a(ctx: WorkflowContext) -> Any:
        await ctx.step("a1", calls.step("a1"))
        await asyncio.sleep(0)  # let branch b record b1 before a2
        await asyncio.sleep(0)
        return await ctx.step("a2", calls.step("a2"))

    async def branch_b(ctx: WorkflowContext) -> Any:
        return await ctx.step("b1", calls.step("b1"))

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        out = await ctx.join("both", {"a": branch_a, "b": branch_b})
        await ctx.step("after", calls.step("after"))
        return out

    await run_workflow(WF, wf, None, driver, clock=clock)
    assert calls.names == ["a1", "b1", "a2", "after"]
    calls.clear()
    history = await load_history(driver)
    snapshot = await replay_from_step(WF, driver, resolve_path(history, "both/a/a2"), clock=clock)
    assert _paths(snapshot) == ["both", "both/a/a1", "both/b/b1"]
    join = snapshot.entries[0].kind
    assert isinstance(join, JoinKind)
    assert join.branches["a"].status is BranchState.RUNNING
    assert join.branches["b"].status is BranchState.COMPLETED
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert result.output == ["a2", "b1"]
    assert calls.names == ["a2", "after"]


async def test_replay_failed_step_waiting_for_retry_skips_the_wait(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(clock.now_ms())
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", calls.step("one"))
        return await ctx.step("flaky", flaky)

    first = await run_workflow(WF, wf, None, driver, clock=clock)
    assert first.state == "sleeping"
    assert first.wake_at == clock.now_ms() + 100
    history = await load_history(driver)
    flaky_id = resolve_path(history, "flaky")
    assert history.entry_metadata[flaky_id].status is EntryStatus.FAILED
    snapshot = await replay_from_step(WF, driver, flaky_id, clock=clock)
    assert _paths(snapshot) == ["one"]
    assert snapshot.workflow.wake_at == clock.now_ms()
    # No clock advance: the pending retry was skipped, the step runs at once.
    done = await run_workflow(WF, wf, None, driver, clock=clock)
    assert done.state == "completed"
    assert done.output == "ok"
    after = await load_history(driver)
    assert after.entry_metadata[resolve_path(after, "flaky")].attempts == 1


async def test_replay_completed_workflow_clears_output_and_reruns(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", calls.step("one"))
        return await ctx.step("two", calls.step("two"))

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == "two"
    history = await load_history(driver)
    snapshot = await replay_from_step(WF, driver, resolve_path(history, "two"), clock=clock)
    assert snapshot.workflow.state == "sleeping"
    assert snapshot.workflow.output is None
    assert snapshot.workflow.error is None
    assert await driver.get_alarm() == clock.now_ms()
    calls.clear()
    result = await run_workflow(WF, wf, None, driver, clock=clock)
    assert (result.state, result.output) == ("completed", "two")
    assert calls.names == ["two"]


async def test_unknown_and_non_step_targets_are_refused(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def body(ctx: WorkflowContext, i: int) -> LoopBreak:
        await ctx.step("inside", calls.step("inside"))
        return Loop.break_(i)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.loop("items", 0, body)

    await run_workflow(WF, wf, None, driver, clock=clock)
    before = await driver.list(b"")
    with pytest.raises(StepNotFound, match="nope"):
        await replay_from_step(WF, driver, "nope", clock=clock)
    loop_id = resolve_path(await load_history(driver), "items")
    with pytest.raises(ReplayTargetNotStep, match="items"):
        await replay_from_step(WF, driver, loop_id, clock=clock)
    assert await driver.list(b"") == before


async def test_same_millisecond_steps_replay_by_creation_order(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("zeta", calls.step("zeta"))
        await ctx.step("alpha", calls.step("alpha"))

    await run_workflow(WF, wf, None, driver, clock=clock)  # the clock never moves
    history = await load_history(driver)
    meta = history.entry_metadata
    assert len({meta[e.id].created_at for e in history.entries}) == 1
    assert len({meta[e.id].completed_at for e in history.entries}) == 1
    calls.clear()
    snapshot = await replay_from_step(WF, driver, resolve_path(history, "zeta"), clock=clock)
    assert snapshot.entries == ()
    await run_workflow(WF, wf, None, driver, clock=clock)
    assert calls.names == ["zeta", "alpha"]


async def test_race_branch_replay_rewinds_the_race(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def fast(ctx: WorkflowContext) -> Any:
        return await ctx.step("f1", calls.step("f1"))

    async def slow(ctx: WorkflowContext) -> Any:
        await ctx.sleep("wait", 60)
        return "slow"

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("before", calls.step("before"))
        return await ctx.race("first", {"fast": fast, "slow": slow})

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == ["fast", "f1"]
    history = await load_history(driver)
    plan = plan_replay(history, resolve_path(history, "first/fast/f1"))
    assert plan.boundary_id == resolve_path(history, "first")
    calls.clear()
    snapshot = await replay_from_step(
        WF, driver, resolve_path(history, "first/fast/f1"), clock=clock
    )
    assert _paths(snapshot) == ["before"]
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == ["fast", "f1"]
    assert calls.names == ["f1"]


def test_plan_replay_refuses_kept_running_step() -> None:
    def meta(status: str) -> dict[str, Any]:
        return {
            "status": status,
            "error": None,
            "attempts": 1,
            "lastAttemptAt": 1,
            "createdAt": 1,
            "completedAt": None,
            "rollbackCompletedAt": None,
            "rollbackError": None,
        }

    def step(entry_id: str, index: int) -> dict[str, Any]:
        return {
            "id": entry_id,
            "location": [{"tag": "WorkflowNameIndex", "val": index}],
            "kind": {"tag": "WorkflowStepEntry", "val": {"output": None, "error": None}},
        }

    snapshot = HistorySnapshot.from_transport(
        {
            "nameRegistry": ["a", "b"],
            "entries": [step("e-a", 0), step("e-b", 1)],
            "entryMetadata": {"e-a": meta("RUNNING"), "e-b": meta("COMPLETED")},
        }
    )
    with pytest.raises(ReplayInFlight, match="'a'"):
        plan_replay(snapshot, "e-b")
    # The RUNNING step itself is in the discarded set: allowed.
    plan = plan_replay(snapshot, "e-a")
    assert plan.discarded_ids == ("e-a", "e-b")


async def test_plan_replay_is_a_dry_run(driver: Driver, clock: ManualClock, calls: Any) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        for name in ("one", "two", "three"):
            await ctx.step(name, calls.step(name))

    await run_workflow(WF, wf, None, driver, clock=clock)
    before = await driver.list(b"")
    history = await load_history(driver)
    plan = plan_replay(history, resolve_path(history, "two"))
    assert plan.discarded_ids == tuple(e.id for e in history.entries[1:])
    assert plan.boundary_seq == history.entries[1].seq
    assert await driver.list(b"") == before


async def test_attempts_are_archived_and_bounded(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        await ctx.step("two", calls.step("two"))

    await run_workflow(WF, wf, None, driver, clock=clock)
    history = await load_history(driver)
    two = resolve_path(history, "two")
    await replay_from_step(WF, driver, two, clock=clock, keep_attempts=2)
    first = await load_attempt(driver, 1)
    assert [first.path(e.id) for e in first.entries] == ["two"]
    assert first.entries[0].id == two
    assert first.workflow.state == "completed"
    for _ in range(3):
        await run_workflow(WF, wf, None, driver, clock=clock)
        await replay_from_step(WF, driver, clock=clock, keep_attempts=2)
    infos = await list_attempts(driver)
    assert [a.number for a in infos] == [3, 4]
    assert infos[-1].target_id is None
    assert infos[-1].entries == 2


async def test_a_lower_keep_attempts_prunes_every_older_attempt(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    # Replays on a cached history delete only the attempt that falls off;
    # one asking to keep fewer must still drop all the older ones.
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))

    await run_workflow(WF, wf, None, driver, clock=clock)
    for _ in range(6):
        await replay_from_step(WF, driver, clock=clock, keep_attempts=4)
        await run_workflow(WF, wf, None, driver, clock=clock)
    assert [a.number for a in await list_attempts(driver)] == [3, 4, 5, 6]
    await replay_from_step(WF, driver, clock=clock, keep_attempts=2)
    assert [a.number for a in await list_attempts(driver)] == [6, 7]
    await run_workflow(WF, wf, None, driver, clock=clock)
    await replay_from_step(WF, driver, clock=clock, keep_attempts=2)
    assert [a.number for a in await list_attempts(driver)] == [7, 8]
    # Bodies go with their heads.
    assert (await load_attempt(driver, 7)).entries
    with pytest.raises(AttemptNotFound):
        await load_attempt(driver, 6)


async def test_replay_stops_a_live_run_between_operations(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    between = asyncio.Event()
    go_on = asyncio.Event()

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        between.set()
        await go_on.wait()  # not a durable operation: no callback executes
        await ctx.step("two", calls.step("two"))

    run = asyncio.create_task(run_workflow(WF, wf, None, driver, clock=clock))
    await asyncio.wait_for(between.wait(), 5)
    replay = asyncio.create_task(replay_from_step(WF, driver, clock=clock))
    await asyncio.sleep(0)
    go_on.set()
    stopped = await run
    assert stopped.state == "running"
    assert (await replay).entries == ()
    assert calls.names == ["one"]
    between.clear()
    go_on.set()
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).state == "completed"
    assert calls.names == ["one", "one", "two"]


async def test_replay_in_loop_inside_join_branch(clock: ManualClock, calls: Any) -> None:
    from actorscope.engine import MemoryDriver

    driver = MemoryDriver()

    async def body(ctx: WorkflowContext, i: int) -> LoopContinue | LoopBreak:
        await ctx.step(f"l-{i}", calls.step(f"l-{i}"))
        return Loop.continue_(i + 1) if i < 1 else Loop.break_(i)

    async def branch_a(ctx: WorkflowContext) -> Any:
        await ctx.step("a1", calls.step("a1"))
        return await ctx.loop("rep", 0, body)

    async def branch_b(ctx: WorkflowContext) -> Any:
        return await ctx.step("b1", calls.step("b1"))

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.join("both", {"b": branch_b, "a": branch_a})

    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == ["b1", 1]
    assert calls.names == ["b1", "a1", "l-0", "l-1"]
    history = await load_history(driver)
    plan = plan_replay(history, resolve_path(history, "both/a/rep/~1/l-1"))
    assert plan.boundary_id == resolve_path(history, "both/a/rep")
    assert plan.branch_resets == {resolve_path(history, "both"): ("a",)}
    calls.clear()
    await replay_from_step(WF, driver, resolve_path(history, "both/a/rep/~1/l-1"), clock=clock)
    assert (await run_workflow(WF, wf, None, driver, clock=clock)).output == ["b1", 1]
    assert calls.names == ["l-0", "l-1"]


async def test_history_changed_through_another_driver_is_reloaded(
    tmp_path: Any, clock: ManualClock, calls: Any
) -> None:
    from actorscope.engine import SQLiteDriver

    first = SQLiteDriver(tmp_path / "shared.db", "wf")
    second = SQLiteDriver(tmp_path / "shared.db", "wf")

    async def wf(ctx: WorkflowContext, _: Any) -> Any:
        await ctx.step("one", calls.step("one"))
        await ctx.sleep("nap", 1)
        return await ctx.step("two", calls.step("two"))

    try:
        assert (await run_workflow(WF, wf, None, first, clock=clock)).state == "sleeping"
        # `first`'s history is cached in memory; rewind through `second`.
        await replay_from_step(WF, second, clock=clock)
        calls.clear()
        assert (await run_workflow(WF, wf, None, first, clock=clock)).state == "sleeping"
        assert calls.names == ["one"]
        clock.advance(1)
        assert (await run_workflow(WF, wf, None, first, clock=clock)).state == "completed"
        assert calls.names == ["one", "two"]
    finally:
        first.close()
        second.close()


async def test_replay_gives_up_on_a_run_that_never_reaches_an_operation(
    clock: ManualClock, calls: Any
) -> None:
    from actorscope.engine import MemoryDriver

    driver = MemoryDriver()
    inside = asyncio.Event()
    release = asyncio.Event()

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", calls.step("one"))
        inside.set()
        await release.wait()  # plain await, not an operation
        await ctx.step("two", calls.step("two"))

    run = asyncio.create_task(run_workflow(WF, wf, None, driver, clock=clock))
    await asyncio.wait_for(inside.wait(), 5)
    before = await driver.list(b"")
    with pytest.raises(ReplayInFlight, match="did not stop in time"):
        await replay_from_step(WF, driver, clock=clock, stop_timeout=0.01)
    assert await driver.list(b"") == before
    release.set()
    # The stop stays requested: the run ends at its next operation.
    assert (await run).state == "running"
    assert calls.names == ["one"]
