"""``ReplayOperator`` (server/replay_ops.py) over a real ``WorkflowRunner``.

Target by path, dry run, audit of done and refused replays, archived
attempts — unit-tested against the engine with an in-memory driver; the
end-to-end tests over HTTP and the CLI are in ``test_inspect_cli.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actorscope.engine import Loop, MemoryDriver, WorkflowContext
from actorscope.engine.runner import WorkflowRunner
from actorscope.server.audit import ReplayAudit
from actorscope.server.errors import InspectorError
from actorscope.server.jsonvalues import history_to_json
from actorscope.server.replay_ops import ReplayOperator, ReplayRequestBody

TIMEOUT = 5.0


class Order:
    """A workflow like the demo ``order``: a loop whose iterations reuse one step name."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.block = asyncio.Event()
        self.block.set()
        self.blocked = asyncio.Event()

    async def __call__(self, ctx: WorkflowContext, _input: Any) -> str:
        await ctx.step("validate", lambda: self._run("validate"))

        async def item(it: WorkflowContext, i: int) -> Any:
            if i >= 3:
                return Loop.break_(i)
            await it.step("reserve", lambda: self._run(f"reserve-{i}"))
            return Loop.continue_(i + 1)

        await ctx.loop("items", 0, item)
        await ctx.step("charge", self._charge)
        await ctx.sleep("rest", 3600)
        return "done"

    async def _run(self, name: str) -> str:
        self.ran.append(name)
        return name

    async def _charge(self) -> int:
        self.ran.append("charge")
        if not self.block.is_set():
            self.blocked.set()
            await self.block.wait()
        return len(self.ran)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Order, WorkflowRunner, ReplayOperator, MemoryDriver]]:
    order = Order()
    driver = MemoryDriver()
    runner = WorkflowRunner("wf", order, None, driver)
    operator = ReplayOperator(runner, ReplayAudit(MemoryDriver()), driver, history_to_json)
    await runner.start()
    await _until(runner, lambda h: any(h.path(e.id) == "rest" for e in h.entries))
    yield order, runner, operator, driver
    order.block.set()
    await runner.stop()


async def _until(runner: WorkflowRunner, predicate: Any) -> Any:
    async def poll() -> Any:
        while True:
            snapshot = await runner.history()
            if predicate(snapshot):
                return snapshot
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(poll(), TIMEOUT)


async def test_step_path_names_one_loop_iteration(setup: Any) -> None:
    order, runner, operator, _ = setup
    history = await runner.history()
    target = await operator.resolve(None, "items/~1/reserve")
    assert history.path(target) == "items/~1/reserve"
    assert target != await operator.resolve(None, "items/~0/reserve")
    plan = await operator.dry_run(step="items/~1/reserve")
    assert plan["target"]["path"] == "items/~1/reserve"
    # Inside a loop the boundary is the loop (ENGINE.md replay rule 3).
    assert plan["boundary"]["path"] == "items" and plan["boundary"]["kind"] == "loop"
    assert [d["path"] for d in plan["discard"]] == [
        "items",
        "items/~0/reserve",
        "items/~1/reserve",
        "items/~2/reserve",
        "charge",
        "rest",
    ]
    order.ran.clear()
    outcome = await operator.replay(
        step="items/~1/reserve", reason="bad stock", credential="server", transport="http"
    )
    assert outcome.discarded == 6 and outcome.attempt == 1
    await _until(runner, lambda h: any(h.path(e.id) == "rest" for e in h.entries))
    assert order.ran == ["reserve-0", "reserve-1", "reserve-2", "charge"]
    record = (await operator.audit.records())[0]
    assert record.result == "done" and record.reason == "bad stock"
    assert record.target == {"entryId": target, "step": "items/~1/reserve"}
    assert record.boundary is not None and record.boundary["path"] == "items"


async def test_dry_run_changes_nothing(setup: Any) -> None:
    _, runner, operator, driver = setup
    before = await driver.list(b"")
    snapshot = await runner.history()
    charge = next(e.id for e in snapshot.entries if snapshot.path(e.id) == "charge")
    plan = await operator.dry_run(charge)
    assert [d["path"] for d in plan["discard"]] == ["charge", "rest"]
    assert plan["history"] == history_to_json(snapshot)
    assert await driver.list(b"") == before
    assert await operator.audit.records() == []  # a dry run is not a replay


async def test_unknown_path_names_the_closest_paths(setup: Any) -> None:
    _, _, operator, _ = setup
    with pytest.raises(InspectorError) as info:
        await operator.replay(step="items/~1/reserv", credential="dev", transport="http")
    assert (info.value.status, info.value.full_code) == (404, "workflow.step_not_found")
    assert "items/~1/reserve" in info.value.message
    with pytest.raises(InspectorError):
        await operator.dry_run(step="nothing/here")
    [record] = await operator.audit.records()
    assert record.result == "refused"
    assert record.refusal is not None and record.refusal["code"] == "workflow.step_not_found"


async def test_refused_replays_are_audited(setup: Any) -> None:
    order, runner, operator, _ = setup
    history = await runner.history()
    validate = next(e.id for e in history.entries if history.path(e.id) == "validate")
    loop = next(e.id for e in history.entries if history.path(e.id) == "items")
    with pytest.raises(InspectorError) as info:
        await operator.replay(loop, credential="actor", transport="websocket")
    assert info.value.full_code == "workflow.replay_target_not_step"
    # A step blocked in its callback: replay refused, history untouched.
    order.block.clear()
    charge = next(e.id for e in history.entries if history.path(e.id) == "charge")
    await operator.replay(charge, credential="server", transport="http")
    await asyncio.wait_for(order.blocked.wait(), TIMEOUT)
    with pytest.raises(InspectorError) as info:
        await operator.replay(validate, reason="retry", credential="server", transport="http")
    assert (info.value.status, info.value.full_code) == (409, "workflow.replay_in_flight")
    order.block.set()
    records = await operator.audit.records()
    assert [r.result for r in records] == ["refused", "done", "refused"]
    assert records[0].refusal is not None
    assert records[0].refusal["code"] == "workflow.replay_in_flight"
    assert records[0].reason == "retry" and records[0].credential == "server"
    assert records[2].transport == "websocket" and records[2].credential == "actor"


async def test_archived_attempts_come_back(setup: Any) -> None:
    _, runner, operator, _ = setup
    history = await runner.history()
    charge = next(e.id for e in history.entries if history.path(e.id) == "charge")
    outcome = await operator.replay(charge, credential="dev", transport="http")
    assert outcome.attempt == 1
    archived = await operator.attempt_json(1)
    paths = [e["location"] for e in archived["history"]["entries"]]
    assert len(paths) == 2
    assert archived["attempt"]["number"] == 1 and archived["attempt"]["boundaryId"] == charge
    with pytest.raises(InspectorError) as info:
        await operator.attempt_json(7)
    assert (info.value.status, info.value.full_code) == (404, "workflow.attempt_not_found")


def test_request_body_is_checked() -> None:
    body = ReplayRequestBody.from_json({"step": "a/~1/b", "dryRun": True, "reason": "r"})
    assert (body.step, body.dry_run, body.reason) == ("a/~1/b", True, "r")
    for bad in (
        {"entryId": 3},
        {"step": ""},
        {"entryId": "x", "step": "y"},
        {"dryRun": "yes"},
        {"reason": 5},
    ):
        with pytest.raises(InspectorError) as info:
            ReplayRequestBody.from_json(bad)
        assert info.value.status == 400


async def test_refused_preview_of_a_replay_is_audited_as_dry_run(setup: Any) -> None:
    """``auditRefusal``: the CLI's preview before a replay; a refusal there is audited."""
    _, runner, operator, driver = setup
    before = await driver.list(b"")
    look = ReplayRequestBody.from_json({"step": "items/~1/reserv", "dryRun": True})
    with pytest.raises(InspectorError):
        await operator.preview(look, credential="server", transport="http")
    assert await operator.audit.records() == []  # a plain look is not a replay
    asked = ReplayRequestBody.from_json(
        {"step": "items/~1/reserv", "dryRun": True, "auditRefusal": True, "reason": "why"}
    )
    with pytest.raises(InspectorError) as info:
        await operator.preview(asked, credential="server", transport="http")
    assert info.value.full_code == "workflow.step_not_found"
    history = await runner.history()
    charge = next(e.id for e in history.entries if history.path(e.id) == "charge")
    fine = ReplayRequestBody(entry_id=charge, dry_run=True, audit_refusal=True)
    plan = await operator.preview(fine, credential="server", transport="http")
    assert [d["path"] for d in plan["discard"]] == ["charge", "rest"]
    [record] = await operator.audit.records()  # the plan that was not refused: no record
    assert (record.result, record.dry_run, record.reason) == ("refused", True, "why")
    assert record.target == {"entryId": None, "step": "items/~1/reserv"}
    assert record.refusal is not None and "items/~1/reserve" in record.refusal["message"]
    assert record.to_json()["dryRun"] is True
    assert await driver.list(b"") == before


def test_audit_refusal_is_for_dry_runs() -> None:
    body = ReplayRequestBody.from_json({"dryRun": True, "auditRefusal": True})
    assert (body.dry_run, body.audit_refusal) == (True, True)
    assert ReplayRequestBody.from_json({}).audit_refusal is False
    for bad in ({"auditRefusal": True}, {"dryRun": True, "auditRefusal": 1}):
        with pytest.raises(InspectorError) as info:
            ReplayRequestBody.from_json(bad)
        assert (info.value.status, info.value.full_code) == (400, "request.invalid")
