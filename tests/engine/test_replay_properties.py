"""Property tests over random workflows: replay from any step, and rollback on failure.

Workflows are random trees of steps, sleeps, (nested) loops and joins. For a
history recorded up to some point, replaying from a random step and running
to the end must: execute exactly the discarded steps plus the ones never
recorded, each once; never execute a kept step; and produce the output of an
uninterrupted run (ENGINE.md "Replay from a step", rules 3-4). And when the
last step exhausts, every completed step is rolled back once, newest first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, TypeAlias

from actorscope.engine import (
    Loop,
    LoopBreak,
    LoopContinue,
    ManualClock,
    MemoryDriver,
    StepKind,
    VersionCheckKind,
    WorkflowContext,
    load_history,
    plan_replay,
    replay_from_step,
    run_workflow,
)
from actorscope.engine.execution import clear_cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# ("step",) | ("sleep",) | ("version",) | ("loop", iterations, children)
# | ("join", [children, ...])
Node: TypeAlias = tuple[Any, ...]

_leaf = st.sampled_from([("step",), ("step",), ("sleep",), ("version",)])
_tree = st.recursive(
    st.lists(_leaf, min_size=1, max_size=3),
    lambda children: st.lists(
        st.one_of(
            _leaf,
            st.tuples(st.just("loop"), st.integers(1, 3), children),
            st.tuples(st.just("join"), st.lists(children, min_size=1, max_size=3)),
        ),
        min_size=1,
        max_size=4,
    ),
    max_leaves=12,
)


def _workflow(
    tree: list[Node], executed: list[str], rolled: list[str] | None = None, fail: bool = False
) -> Any:
    def undo(output: Any) -> None:
        assert rolled is not None
        rolled.append(output)

    async def run_nodes(ctx: WorkflowContext, nodes: list[Node], out: list[Any]) -> None:
        for i, node in enumerate(nodes):
            name = f"n{i}"
            if node[0] == "step":
                path = f"{ctx.path}/{name}".lstrip("/")

                async def step(path: str = path) -> str:
                    executed.append(path)
                    await asyncio.sleep(0)  # lets join branches interleave
                    return path

                rollback = undo if rolled is not None else None
                out.append(await ctx.step(name, step, rollback=rollback))
            elif node[0] == "sleep":
                await ctx.sleep(name, 1)
            elif node[0] == "version":
                out.append(await ctx.version(name, latest=2))
            elif node[0] == "join":

                def branch(children: list[Node]) -> Any:
                    async def run(c: WorkflowContext) -> list[Any]:
                        inner: list[Any] = []
                        await run_nodes(c, children, inner)
                        return inner

                    return run

                branches = {f"b{j}": branch(children) for j, children in enumerate(node[1])}
                out.append(list(await ctx.join(name, branches)))
            else:
                _, iterations, children = node

                async def body(
                    c: WorkflowContext, k: int, children: Any = children, n: int = iterations
                ) -> LoopContinue | LoopBreak:
                    inner: list[Any] = []
                    await run_nodes(c, children, inner)
                    return Loop.continue_(k + 1) if k + 1 < n else Loop.break_(inner)

                out.append(await ctx.loop(name, 0, body))

    def broken() -> None:
        raise RuntimeError("last step fails")

    async def wf(ctx: WorkflowContext, _: Any) -> list[Any]:
        out: list[Any] = []
        await run_nodes(ctx, tree, out)
        if fail:
            await ctx.step("fail", broken, max_retries=0)
        return out

    return wf


async def _run(wf: Any, driver: MemoryDriver, clock: ManualClock, cold: bool) -> Any:
    if cold:
        clear_cache()  # as if the process restarted: the history is loaded again
    return await run_workflow("prop", wf, None, driver, clock=clock)


async def _run_to_end(wf: Any, driver: MemoryDriver, clock: ManualClock, cold: bool) -> Any:
    for _ in range(5000):
        result = await _run(wf, driver, clock, cold)
        if result.state == "completed":
            return result.output
        clock.advance(1)
    raise AssertionError("workflow did not complete")


async def _check(tree: list[Node], runs_before: int, pick: int, cold: bool) -> None:
    reference: list[str] = []
    expected_output = await _run_to_end(
        _workflow(tree, reference), MemoryDriver(), ManualClock(), cold=False
    )

    executed: list[str] = []
    wf = _workflow(tree, executed)
    driver, clock = MemoryDriver(), ManualClock()
    for _ in range(runs_before):
        if (await _run(wf, driver, clock, cold)).state == "completed":
            break
        clock.advance(1)
    history = await load_history(driver)
    steps = [e for e in history.entries if isinstance(e.kind, StepKind)]
    if not steps:
        return
    target = steps[pick % len(steps)]
    plan = plan_replay(history, target.id)
    discarded = set(plan.discarded_ids)
    kept_paths = {history.path(e.id) for e in steps if e.id not in discarded}
    assert target.id in discarded

    executed.clear()
    if cold:
        clear_cache()
    pins = {e.id: e.kind for e in history.entries if isinstance(e.kind, VersionCheckKind)}
    rewound = await replay_from_step("prop", driver, target.id, clock=clock)
    # A replay keeps every version check, with its id and recorded value.
    assert {e.id: e.kind for e in rewound.entries if e.id in pins} == pins
    output = await _run_to_end(wf, driver, clock, cold)
    assert output == expected_output
    runs = Counter(executed)
    assert all(count == 1 for count in runs.values()), runs
    assert set(runs) == set(reference) - kept_paths
    assert history.path(target.id) in runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree, runs_before=st.integers(1, 6), pick=st.integers(0, 1000), cold=st.booleans())
def test_replay_from_any_step_reruns_exactly_the_rewound_part(
    tree: list[Node], runs_before: int, pick: int, cold: bool
) -> None:
    asyncio.run(_check(tree, runs_before, pick, cold))


async def _check_rollback(tree: list[Node], cold: bool) -> None:
    executed: list[str] = []
    rolled: list[str] = []
    wf = _workflow(tree, executed, rolled, fail=True)
    driver, clock = MemoryDriver(), ManualClock()
    for _ in range(5000):
        result = await _run(wf, driver, clock, cold)
        if result.state != "sleeping":
            break
        clock.advance(1)
    assert result.state == "failed"
    history = await load_history(driver)
    completed = [
        history.path(e.id)
        for e in history.entries
        if isinstance(e.kind, StepKind) and history.path(e.id) != "fail"
    ]
    # Every completed step is rolled back once, newest first, even those
    # recorded by earlier runs inside loops and joins the failing run skipped.
    assert rolled == completed[::-1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree, cold=st.booleans())
def test_rollback_reaches_every_completed_step(tree: list[Node], cold: bool) -> None:
    asyncio.run(_check_rollback(tree, cold))
