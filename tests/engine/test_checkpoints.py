"""State checkpoints and ``rewind``: restore the host state, host ops in the replay batch.

The host state here is a plain dict the steps mutate; ``capture`` encodes
it. Checked: the state restored is the one at the boundary (also inside a
loop and a join, and from the start); a step that leaves the state as it
was stores no checkpoint; past ``keep`` the oldest go and a restore that
would need one is refused; a failed capture refuses a restore there;
without the opt-in, restoring is refused; ``rewind`` reports the plan and the
attempt it applied and writes the host's ops in its own batch (and none of
the rewind when ``prepare`` raises); ``Linked`` batches are all or nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgpack
import pytest
from actorscope.engine import (
    Driver,
    Loop,
    MemoryDriver,
    SQLiteDriver,
    WorkflowContext,
    WorkflowRunner,
    load_history,
    resolve_path,
)
from actorscope.engine.checkpoints import StateCheckpoints
from actorscope.engine.codec import CHECKPOINT
from actorscope.engine.driver import Delete, Linked, Set
from actorscope.engine.errors import StateCheckpointsDisabled, StateCheckpointUnavailable
from actorscope.engine.replay import ReplayDecision

WF = "wf-checkpoints"


class Host:
    """A host state the workflow's steps change, and its runner."""

    def __init__(self, driver: Driver, wf: Any, *, keep: int | None = 100) -> None:
        self.state: dict[str, Any] = {"log": []}
        self.fail_capture = False
        checkpoints = None if keep is None else StateCheckpoints(self.capture, keep=keep)
        self.runner = WorkflowRunner(WF, wf, None, driver, env=self, state_checkpoints=checkpoints)

    def capture(self) -> bytes:
        if self.fail_capture:
            raise RuntimeError("cannot encode")
        out: bytes = msgpack.packb(self.state)
        return out

    def add(self, item: Any) -> Any:
        self.state["log"].append(item)
        return item

    async def settle(self) -> None:
        await asyncio.wait_for(self.runner.idle(), 5)

    async def restore(self, path: str | None = None) -> Any:
        """Replay (by path) restoring the state; apply it the way a host does."""
        applied = await self.runner.rewind(path=path, restore_state=True)
        assert applied.restored_state is not None
        self.state = msgpack.unpackb(applied.restored_state)
        return applied


def _steps(*names: str) -> Any:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        for name in names:
            await ctx.step(name, lambda name=name: ctx.env.add(name))

    return wf


async def test_restore_puts_back_the_state_at_the_boundary(driver: Driver) -> None:
    host = Host(driver, _steps("one", "two", "three"))
    await host.runner.start()
    await host.settle()
    assert host.state == {"log": ["one", "two", "three"]}
    applied = await host.restore("two")
    assert msgpack.unpackb(applied.restored_state) == {"log": ["one"]}
    assert applied.attempt == 1 and len(applied.plan.discarded_ids) == 2
    await host.settle()
    assert host.state == {"log": ["one", "two", "three"]}
    # From the start: the state as the workflow first ran.
    await host.restore(None)
    assert host.state == {"log": []}
    await host.settle()
    assert host.state == {"log": ["one", "two", "three"]}
    await host.runner.stop()


async def test_restore_inside_a_loop_and_a_join(driver: Driver) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("before", lambda: ctx.env.add("before"))

        async def body(it: WorkflowContext, i: int) -> Any:
            if i == 2:
                return Loop.break_(i)
            await it.step(f"s{i}", lambda: ctx.env.add(f"s{i}"))
            return Loop.continue_(i + 1)

        await ctx.loop("items", 0, body)
        await ctx.join(
            "both",
            {
                "a": lambda b: b.step("a1", lambda: ctx.env.add("a1")),
                "b": lambda b: b.step("b1", lambda: ctx.env.add("b1")),
            },
        )

    host = Host(driver, wf)
    await host.runner.start()
    await host.settle()
    full = host.state["log"]
    assert sorted(full) == ["a1", "b1", "before", "s0", "s1"]
    # Inside the loop the loop rewinds whole: the state before the loop.
    await host.restore("items/~1/s1")
    assert host.state == {"log": ["before"]}
    await host.settle()
    assert host.state["log"][:3] == ["before", "s0", "s1"]
    # The join branch recorded second: everything before it stays.
    history = await load_history(driver)
    second = max(
        (e for e in history.entries if history.path(e.id) in ("both/a/a1", "both/b/b1")),
        key=lambda e: e.seq,
    )
    kept_log = host.state["log"][:-1]
    await host.restore(history.path(second.id))
    assert host.state == {"log": kept_log}
    await host.settle()
    assert sorted(host.state["log"]) == sorted(full)
    await host.runner.stop()


async def test_unchanged_states_are_stored_once_and_the_bound_holds(driver: Driver) -> None:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        for i in range(6):
            await ctx.step(f"s{i}", lambda i=i: ctx.env.add(i) if i % 2 == 0 else None)

    host = Host(driver, wf, keep=2)
    await host.runner.start()
    await host.settle()
    numbers = [key for key, _ in await driver.list(CHECKPOINT)]
    # The initial state, then only the steps that changed it (s0, s2, s4), at most two.
    assert len(numbers) == 3
    history = await load_history(driver)
    # s5 left the state as s4 did: its checkpoint is s4's.
    applied = await host.restore("s5")
    assert msgpack.unpackb(applied.restored_state) == {"log": [0, 2, 4]}
    await host.settle()
    with pytest.raises(StateCheckpointUnavailable, match="evicted"):
        await host.runner.rewind(resolve_path(history, "s1"), restore_state=True)
    assert await load_history(driver) == await host.runner.history()  # nothing changed
    await host.restore(None)  # the initial state is never evicted
    assert host.state == {"log": []}
    await host.runner.stop()


async def test_a_failed_capture_refuses_a_restore_there(driver: Driver) -> None:
    host = Host(driver, _steps("one", "two", "three"))

    def flaky() -> None:
        host.fail_capture = host.state["log"] == ["one", "two"]

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        for name in ("one", "two", "three"):
            await ctx.step(name, lambda name=name: (ctx.env.add(name), flaky()))

    host.runner.fn = wf
    await host.runner.start()
    await host.settle()
    before = await load_history(driver)
    with pytest.raises(StateCheckpointUnavailable, match="not captured"):
        await host.runner.rewind(path="three", restore_state=True)
    assert await load_history(driver) == before
    await host.restore("two")
    assert host.state == {"log": ["one"]}
    await host.runner.stop()


async def test_restore_without_checkpoints_is_refused(driver: Driver) -> None:
    host = Host(driver, _steps("one", "two"), keep=None)
    await host.runner.start()
    await host.settle()
    before = await load_history(driver)
    with pytest.raises(StateCheckpointsDisabled):
        await host.runner.rewind(path="two", restore_state=True)
    assert await load_history(driver) == before
    assert await driver.list(CHECKPOINT) == []
    await host.runner.stop()


async def test_rewind_writes_host_ops_in_its_batch_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    wf_driver = SQLiteDriver(path, "wf")
    host_driver = SQLiteDriver(path, "host")
    host = Host(wf_driver, _steps("one", "two"))
    await host.runner.start()
    await host.settle()
    seen: list[ReplayDecision] = []

    def prepare(decision: ReplayDecision) -> list[Any]:
        seen.append(decision)
        note = f"attempt {decision.attempt}, {len(decision.plan.discarded_ids)} discarded"
        return [Linked(host_driver, [Set(b"note", note.encode())])]

    applied = await host.runner.rewind(path="two", prepare=prepare, committed=seen.append)
    assert [d.attempt for d in seen] == [1, 1]  # prepare, then committed
    assert await host_driver.get(b"note") == b"attempt 1, 1 discarded"
    assert applied.attempt == 1 and len(applied.plan.discarded_ids) == 1
    await host.settle()

    def broken(decision: ReplayDecision) -> list[Any]:
        raise ValueError("cannot record this replay")

    before = await load_history(wf_driver)
    with pytest.raises(ValueError, match="cannot record"):
        await host.runner.rewind(path="two", prepare=broken)
    assert await load_history(wf_driver) == before
    await host.runner.stop()
    wf_driver.close()
    host_driver.close()


async def test_linked_batches_are_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    a, b = SQLiteDriver(path, "a"), SQLiteDriver(path, "b")
    await a.batch([Set(b"k", b"1"), Linked(b, [Set(b"k", b"2"), Delete(b"gone")])])
    assert (await a.get(b"k"), await b.get(b"k")) == (b"1", b"2")
    other = SQLiteDriver(tmp_path / "other.sqlite", "c")
    with pytest.raises(ValueError, match="share"):
        await a.batch([Set(b"k", b"3"), Linked(other, [Set(b"k", b"3")])])
    with pytest.raises(TypeError):
        await a.batch([Set(b"k", b"4"), Linked(b, [Set(b"k", "not bytes")])])  # type: ignore[list-item]
    assert (await a.get(b"k"), await b.get(b"k"), await other.get(b"k")) == (b"1", b"2", None)
    for driver in (a, b, other):
        driver.close()
    m, n = MemoryDriver(), MemoryDriver()
    await m.batch([Set(b"x", b"1"), Linked(n, [Set(b"y", b"2")])])
    assert (await m.get(b"x"), await n.get(b"y")) == (b"1", b"2")
    with pytest.raises(ValueError):
        await m.batch([Set(b"x", b"9"), Linked(object(), [Set(b"y", b"9")])])
    assert await m.get(b"x") == b"1"


async def test_rewind_reports_the_discarded_count_its_archive_holds(driver: Driver) -> None:
    from actorscope.engine.attempts import list_attempts

    async def wf(ctx: WorkflowContext, _: Any) -> None:
        await ctx.step("one", lambda: ctx.env.add("one"))
        await ctx.version("v", latest=2)  # carried over by a replay, not discarded
        await ctx.step("two", lambda: ctx.env.add("two"))

    host = Host(driver, wf)
    await host.runner.start()
    await host.settle()
    applied = await host.runner.rewind(path="one")
    [attempt] = await list_attempts(driver)
    assert (applied.attempt, len(applied.plan.discarded_ids)) == (attempt.number, attempt.entries)
    assert attempt.entries == 2
    await host.runner.stop()
