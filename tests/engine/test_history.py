"""History snapshots: transport shape, paths, storage layout, notifications."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actorscope.engine import (
    Loop,
    LoopBreak,
    LoopContinue,
    MemoryDriver,
    WorkflowContext,
    run_workflow,
)
from actorscope.engine.clock import ManualClock
from actorscope.engine.codec import ENTRY, META, delete_from, int_key
from actorscope.engine.driver import Driver, Set
from actorscope.engine.errors import StepNotFound
from actorscope.engine.executor import load_history
from actorscope.engine.model import LoopMarker
from actorscope.engine.paths import location_path, resolve_path
from actorscope.engine.queue import send_message
from actorscope.engine.snapshot import HistorySnapshot

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
WF = "wf-history"

_DATA_FIELDS = {"output", "state", "messageData"}


def _hex_to_bytes(obj: Any, key: str | None = None) -> Any:
    """The vectors' JSON form has ``data`` as hex; the engine's transport has bytes."""
    if isinstance(obj, dict):
        # "state" is data in a loop entry but an enum in a sleep entry.
        is_loop = "iteration" in obj and "state" in obj
        return {k: _hex_to_bytes(v, k if k != "state" or is_loop else None) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hex_to_bytes(v) for v in obj]
    if key in _DATA_FIELDS and isinstance(obj, str):
        return bytes.fromhex(obj)
    return obj


def _vectors() -> list[Any]:
    return json.loads((VECTORS / "workflow-history.json").read_text())


@pytest.mark.parametrize("index", range(len(_vectors())))
def test_transport_round_trips_the_shared_vectors(index: int) -> None:
    transport = _hex_to_bytes(_vectors()[index]["message"])
    snapshot = HistorySnapshot.from_transport(transport)
    assert snapshot.to_transport() == transport


async def _everything(ctx: WorkflowContext, _: Any) -> Any:
    ctx.rollback_checkpoint("start")
    await ctx.step("charge", lambda: {"total": 12})

    async def body(c: WorkflowContext, i: int) -> LoopContinue | LoopBreak:
        await c.step(f"reserve-{i}", lambda: i)
        return Loop.continue_(i + 1) if i < 1 else Loop.break_(i)

    await ctx.loop("items", 0, body)
    await ctx.sleep("cool-down", 0)
    await ctx.queue.next("approval")
    ctx.removed("legacy", "step")
    await ctx.join("both", {"a": lambda c: c.step("a1", lambda: "a"), "b": lambda c: 2})
    return await ctx.race("first", {"x": lambda c: "x"})


async def test_transport_round_trips_a_real_history(driver: Driver, clock: ManualClock) -> None:
    await send_message(driver, "approval", b"raw-bytes", clock=clock)
    assert (await run_workflow(WF, _everything, None, driver, clock=clock)).state == "completed"
    snapshot = await load_history(driver)
    transport = snapshot.to_transport()
    tags = [e["kind"]["tag"] for e in transport["entries"]]
    assert set(tags) == {
        "WorkflowRollbackCheckpointEntry",
        "WorkflowStepEntry",
        "WorkflowLoopEntry",
        "WorkflowSleepEntry",
        "WorkflowMessageEntry",
        "WorkflowRemovedEntry",
        "WorkflowJoinEntry",
        "WorkflowRaceEntry",
    }
    assert set(transport) == {"nameRegistry", "entries", "entryMetadata"}
    back = HistorySnapshot.from_transport(transport)
    assert back.name_registry == snapshot.name_registry
    assert [(e.id, e.location, e.kind) for e in back.entries] == [
        (e.id, e.location, e.kind) for e in snapshot.entries
    ]
    assert dict(back.entry_metadata) == dict(snapshot.entry_metadata)
    assert back.to_transport() == transport
    loop_step = transport["entries"][3]
    assert loop_step["location"][1] == {
        "tag": "WorkflowLoopIterationMarker",
        "val": {"loop": snapshot.name_registry.index("items"), "iteration": 0},
    }


async def test_paths_and_resolution(clock: ManualClock) -> None:
    driver = MemoryDriver()

    async def body(c: WorkflowContext, i: int) -> LoopContinue | LoopBreak:
        await c.step(f"reserve-{i}", lambda: i)
        return Loop.continue_(i + 1) if i < 1 else Loop.break_(i)

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.loop("items", 0, body)
        await ctx.step("a/b", lambda: 1)
        await ctx.step("~tilde%", lambda: 1)

    await run_workflow(WF, wf, None, driver, clock=clock)
    snapshot = await load_history(driver)
    paths = [location_path(snapshot, e.id) for e in snapshot.entries]
    assert paths == [
        "items",
        "items/~0/reserve-0",
        "items/~1/reserve-1",
        "a%2Fb",
        "%7Etilde%25",
    ]
    for entry, path in zip(snapshot.entries, paths, strict=True):
        assert resolve_path(snapshot, path) == entry.id
    assert snapshot.entries[2].location[1] == LoopMarker(snapshot.name_registry.index("items"), 1)
    with pytest.raises(StepNotFound) as info:
        resolve_path(snapshot, "items/~1/reserve-2")
    assert info.value.closest[0] == "items/~1/reserve-1"
    assert "items/~1/reserve-1" in str(info.value)
    with pytest.raises(StepNotFound):
        location_path(snapshot, "missing")


@pytest.mark.parametrize(
    ("start", "last"), [(0, 0), (0, 9), (5, 9), (7, 130), (99, 100), (1234, 2099), (10, 10)]
)
async def test_delete_from_covers_exactly_the_tail(start: int, last: int) -> None:
    driver = MemoryDriver()
    await driver.batch([_set(n) for n in range(last + 1)])
    # The families around it stay: metadata, and a key just past the prefix.
    await driver.batch([Set(int_key(META, start), b"m"), Set(b"e0", b"next")])
    await driver.batch([delete_from(ENTRY, start)])
    left = [int(k[len(ENTRY) :]) for k, _ in await driver.list(ENTRY)]
    assert left == list(range(min(start, last + 1)))
    assert await driver.get(int_key(META, start)) == b"m"
    assert await driver.get(b"e0") == b"next"


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 10**9), span=st.integers(0, 150), before=st.integers(0, 20))
async def test_delete_from_covers_exactly_the_tail_anywhere(
    start: int, span: int, before: int
) -> None:
    # Keys in use: a few below start, then start..last (the highest in use).
    last = start + span
    driver = MemoryDriver()
    kept = list(range(max(0, start - before), start))
    await driver.batch([_set(n) for n in [*kept, *range(start, last + 1)]])
    await driver.batch([delete_from(ENTRY, start)])
    left = [int(k[len(ENTRY) :]) for k, _ in await driver.list(ENTRY)]
    assert left == kept


def _set(n: int) -> Any:
    return Set(int_key(ENTRY, n), b"x")


async def test_history_updates_are_notified(driver: Driver, clock: ManualClock) -> None:
    seen: list[HistorySnapshot] = []

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: 1)
        await ctx.step("two", lambda: 2)

    await run_workflow(WF, wf, None, driver, clock=clock, on_history_updated=seen.append)
    assert [len(s.entries) for s in seen] == [1, 2, 2]
    assert seen[-1].workflow.state == "completed"
    assert seen[-1] == await load_history(driver)


async def test_empty_history_loads() -> None:
    snapshot = await load_history(MemoryDriver())
    assert snapshot.entries == ()
    assert snapshot.workflow.state == "pending"
    assert snapshot.to_transport() == {"nameRegistry": [], "entries": [], "entryMetadata": {}}


async def test_transport_builds_the_wire_model(clock: ManualClock) -> None:
    """ARCHITECTURE.md: ``from_json(WorkflowHistory, t, data=lambda b: b)`` takes it as is."""
    from actorscope.protocol.history import WorkflowHistory, decode_history, encode_history
    from actorscope.protocol.jsonform import from_json, to_json

    driver = MemoryDriver()
    await send_message(driver, "approval", {"ok": True}, clock=clock)
    await run_workflow(WF, _everything, None, driver, clock=clock)
    transport = (await load_history(driver)).to_transport()
    wire = decode_history(encode_history(from_json(WorkflowHistory, transport, data=lambda b: b)))
    back = to_json(wire, data=lambda b: b)
    assert back == transport
    assert HistorySnapshot.from_transport(back).to_transport() == transport
