"""``ctx.version``: checks recorded once, kept on resume and replay (docs/PROTOCOL.md §9.4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from actorscope.engine import (
    Driver,
    DuplicateNameError,
    HistoryDivergedError,
    HistorySnapshot,
    Loop,
    LoopBreak,
    LoopContinue,
    ManualClock,
    MemoryDriver,
    SQLiteDriver,
    VersionCheckKind,
    WorkflowContext,
    load_history,
    replay_from_step,
    resolve_path,
    run_workflow,
)
from actorscope.engine.execution import clear_cache

WF = "wf-versions"
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "v5-v6" / "workflow-history.json"


def _checks(snapshot: HistorySnapshot) -> dict[str, tuple[int, int]]:
    return {
        snapshot.path(e.id): (e.kind.resolved, e.kind.latest)
        for e in snapshot.entries
        if isinstance(e.kind, VersionCheckKind)
    }


def _paths(snapshot: HistorySnapshot) -> list[str]:
    return [snapshot.path(e.id) for e in snapshot.entries]


def charge_workflow(latest: int, seen: list[int], calls: Any) -> Any:
    """validate; version check ``charge-v2``; charge by the version; a sleep."""

    async def wf(ctx: WorkflowContext, _: Any) -> str:
        await ctx.step("validate", calls.step("validate"))
        version = await ctx.version("charge-v2", latest=latest)
        seen.append(version)
        if version >= 2:
            await ctx.step("charge-with-tax", calls.step("charge-with-tax"))
        else:
            await ctx.step("charge", calls.step("charge"))
        await ctx.sleep("cool-down", 1.0)
        await ctx.step("ship", calls.step("ship"))
        return f"v{version}"

    return wf


async def test_a_fresh_run_takes_latest_and_records_it(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    seen: list[int] = []
    result = await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    assert result.state == "sleeping" and seen == [2]
    history = await load_history(driver)
    assert _checks(history) == {"charge-v2": (2, 2)}
    assert calls.names == ["validate", "charge-with-tax"]
    # Resuming (the sleep is over) returns the recorded version without a new entry.
    clock.advance(1)
    result = await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    assert result.state == "completed" and result.output == "v2" and seen == [2, 2]
    assert _checks(await load_history(driver)) == {"charge-v2": (2, 2)}


async def test_resume_keeps_the_recorded_version_after_latest_grows(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    seen: list[int] = []
    await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    clock.advance(1)
    # The code moved on to v3 while the run slept: it stays on v2.
    result = await run_workflow(WF, charge_workflow(3, seen, calls), None, driver, clock=clock)
    assert result.output == "v2" and seen == [2, 2]
    assert _checks(await load_history(driver)) == {"charge-v2": (2, 2)}


async def test_resume_after_restart_keeps_the_recorded_version(
    tmp_path: Path, clock: ManualClock, calls: Any
) -> None:
    seen: list[int] = []
    first = SQLiteDriver(tmp_path / "wf.db", "wf")
    try:
        await run_workflow(WF, charge_workflow(2, seen, calls), None, first, clock=clock)
    finally:
        first.close()
    clear_cache()  # a new process: nothing of the history in memory
    clock.advance(1)
    second = SQLiteDriver(tmp_path / "wf.db", "wf")
    try:
        history = await load_history(second)
        assert _checks(history) == {"charge-v2": (2, 2)}
        result = await run_workflow(WF, charge_workflow(5, seen, calls), None, second, clock=clock)
        assert result.output == "v2" and seen == [2, 2]
    finally:
        second.close()


async def old_run(driver: Driver, clock: ManualClock, calls: Any) -> HistorySnapshot:
    """A run started by code that had no version check; it sleeps after ``charge``."""

    async def old(ctx: WorkflowContext, _: Any) -> str:
        await ctx.step("validate", calls.step("validate"))
        await ctx.step("charge", calls.step("charge"))
        await ctx.sleep("cool-down", 1.0)
        await ctx.step("ship", calls.step("ship"))
        return "old"

    assert (await run_workflow(WF, old, None, driver, clock=clock)).state == "sleeping"
    return await load_history(driver)


async def test_a_run_already_past_the_check_takes_version_1(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    before = await old_run(driver, clock, calls)
    calls.clear()
    seen: list[int] = []
    clock.advance(1)
    result = await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    # It had charged under the old code: it keeps the old path, no divergence,
    # and nothing recorded is re-run.
    assert result.state == "completed" and result.output == "v1" and seen == [1]
    assert calls.names == ["ship"]
    after = await load_history(driver)
    assert _checks(after) == {"charge-v2": (1, 2)}
    # The recorded entries keep their ids, places and results; the check is added.
    kept = {e.id: e for e in after.entries}
    for entry in before.entries:
        assert kept[entry.id].location == entry.location
        if entry.kind.__class__.__name__ == "StepKind":
            assert kept[entry.id].kind == entry.kind
    assert _paths(after) == ["validate", "charge", "cool-down", "charge-v2", "ship"]


async def test_a_run_that_stopped_right_before_the_check_takes_latest(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def old(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("validate", calls.step("validate"))
        await ctx.sleep("wait", 1.0)

    await run_workflow(WF, old, None, driver, clock=clock)
    seen: list[int] = []

    async def new(ctx: WorkflowContext, _: Any) -> int:
        await ctx.step("validate", calls.step("validate"))
        await ctx.sleep("wait", 1.0)
        version = await ctx.version("after-wait", latest=4)
        seen.append(version)
        return version

    clock.advance(1)
    result = await run_workflow(WF, new, None, driver, clock=clock)
    assert result.output == 4 and seen == [4]


async def test_replay_from_a_step_before_the_check_keeps_the_recorded_version(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    await old_run(driver, clock, calls)
    seen: list[int] = []
    clock.advance(1)
    await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    history = await load_history(driver)
    check_id = resolve_path(history, "charge-v2")
    snapshot = await replay_from_step(WF, driver, resolve_path(history, "validate"), clock=clock)
    # Everything from validate on is discarded, except the version check.
    assert _paths(snapshot) == ["charge-v2"]
    assert snapshot.by_id[check_id].kind == VersionCheckKind(1, 2)
    calls.clear()
    result = await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    assert result.state == "sleeping"
    assert seen == [1, 1] and calls.names == ["validate", "charge"]
    clock.advance(1)
    result = await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    assert result.output == "v1"
    assert _checks(await load_history(driver)) == {"charge-v2": (1, 2)}


async def test_replay_from_the_start_and_after_the_check_keep_it(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    seen: list[int] = []
    await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    clock.advance(1)
    await run_workflow(WF, charge_workflow(2, seen, calls), None, driver, clock=clock)
    history = await load_history(driver)
    # After the check: the check is before the boundary and simply kept.
    snapshot = await replay_from_step(WF, driver, resolve_path(history, "ship"), clock=clock)
    assert _checks(snapshot) == {"charge-v2": (2, 2)}
    result = await run_workflow(WF, charge_workflow(3, seen, calls), None, driver, clock=clock)
    assert result.output == "v2"
    # From the start (no entry id) while the code says latest=3: still v2.
    snapshot = await replay_from_step(WF, driver, None, clock=clock)
    assert _paths(snapshot) == ["charge-v2"]
    calls.clear()
    await run_workflow(WF, charge_workflow(3, seen, calls), None, driver, clock=clock)
    clock.advance(1)
    result = await run_workflow(WF, charge_workflow(3, seen, calls), None, driver, clock=clock)
    assert result.output == "v2" and calls.names == ["validate", "charge-with-tax", "ship"]
    assert _checks(await load_history(driver)) == {"charge-v2": (2, 2)}
    # The replayed history reloads from disk the same (sequence numbers, ids).
    clear_cache()
    assert _checks(await load_history(driver)) == {"charge-v2": (2, 2)}


async def test_changed_code_without_a_check_still_diverges_and_writes_nothing(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    before = await old_run(driver, clock, calls)

    async def renamed(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("validate", calls.step("validate"))
        await ctx.step("charge-with-tax", calls.step("charge-with-tax"))

    clock.advance(1)
    with pytest.raises(HistoryDivergedError) as caught:
        await run_workflow(WF, renamed, None, driver, clock=clock)
    assert "charge" in str(caught.value) and "charge-with-tax" in str(caught.value)
    clear_cache()
    assert await load_history(driver) == before


async def test_a_diverging_run_after_a_new_check_writes_nothing(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    before = await old_run(driver, clock, calls)

    async def wrong(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("validate", calls.step("validate"))
        # The check resolves 1 (the run is past it) but the code ignores it.
        await ctx.version("charge-v2", latest=2)
        await ctx.step("charge-with-tax", calls.step("charge-with-tax"))

    clock.advance(1)
    with pytest.raises(HistoryDivergedError):
        await run_workflow(WF, wrong, None, driver, clock=clock)
    clear_cache()
    assert await load_history(driver) == before


async def test_a_check_where_another_kind_is_recorded_diverges(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    await old_run(driver, clock, calls)

    async def clash(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("validate", calls.step("validate"))
        await ctx.version("charge", latest=2)

    with pytest.raises(HistoryDivergedError) as caught:
        await run_workflow(WF, clash, None, driver, clock=clock)
    assert "version_check 'charge'" in str(caught.value)


async def test_bad_latest_and_reused_names_are_refused(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    async def bad(ctx: WorkflowContext, _: Any) -> None:
        await ctx.version("x", latest=0)

    result = await run_workflow(WF, bad, None, driver, clock=clock)
    assert result.state == "failed" and "latest must be an integer >= 1" in (result.error or "")

    async def twice(ctx: WorkflowContext, _: Any) -> None:
        await ctx.version("y", latest=1)
        await ctx.version("y", latest=1)

    with pytest.raises(DuplicateNameError):
        await run_workflow("wf-twice", twice, None, MemoryDriver(), clock=clock)


async def test_a_check_inside_a_loop_is_kept_per_iteration(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    seen: list[int] = []

    def workflow(latest: int) -> Any:
        async def body(ctx: WorkflowContext, i: int) -> LoopContinue | LoopBreak:
            seen.append(await ctx.version("fmt", latest=latest))
            await ctx.step("work", calls.step(f"work-{i}"))
            if i == 1:
                await ctx.sleep("nap", 1.0)
            return Loop.continue_(i + 1) if i < 2 else Loop.break_(i)

        async def wf(ctx: WorkflowContext, _: Any) -> Any:
            return await ctx.loop("items", 0, body)

        return wf

    await run_workflow(WF, workflow(1), None, driver, clock=clock)
    assert seen == [1, 1]
    clock.advance(1)
    result = await run_workflow(WF, workflow(2), None, driver, clock=clock)
    # Iteration 1 was recorded under v1 and stays there; iteration 2 is new.
    assert result.state == "completed" and seen == [1, 1, 1, 2]
    assert _checks(await load_history(driver)) == {
        "items/~0/fmt": (1, 1),
        "items/~1/fmt": (1, 1),
        "items/~2/fmt": (2, 2),
    }


def test_transport_form_matches_the_rivetkit_vector() -> None:
    records = json.loads(VECTORS.read_text())
    found = [r for r in records if "WorkflowVersionCheckEntry" in json.dumps(r["message"])]
    assert found, "the v5-v6 vectors hold a history with version checks"
    for record in found:
        message = record["message"]
        snapshot = HistorySnapshot.from_transport(message)
        assert snapshot.to_transport() == message
        kinds = [e.kind for e in snapshot.entries if isinstance(e.kind, VersionCheckKind)]
        assert kinds


async def test_the_transport_form_of_a_recorded_check(
    driver: Driver, clock: ManualClock, calls: Any
) -> None:
    await run_workflow(WF, charge_workflow(2, [], calls), None, driver, clock=clock)
    transport = (await load_history(driver)).to_transport()
    kinds = [e["kind"] for e in transport["entries"]]
    assert {"tag": "WorkflowVersionCheckEntry", "val": {"resolved": 2, "latest": 2}} in kinds
    again = HistorySnapshot.from_transport(transport)
    assert again.to_transport() == transport
