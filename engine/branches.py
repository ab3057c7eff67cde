"""Join and race: branches that run concurrently under one entry.

Each branch runs as its own asyncio task with a branch context whose
entries live under ``<join>/<branch>/...``. The join/race entry records
each branch's status and output (PROTOCOL.md §4 ``WorkflowBranchStatus``);
a branch that must wait (sleep, retry, message) stays RUNNING and the whole
join/race suspends until the earliest wake time, after the other branches
have gone as far as they can.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .codec import decode_value, encode_value
from .errors import DuplicateNameError, HistoryDivergedError
from .execution import Stopped, Suspend, Uncharted, describe_error
from .model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryMetadata,
    EntryStatus,
    JoinKind,
    Location,
    RaceKind,
)

if TYPE_CHECKING:
    from .context import BranchFn, WorkflowContext

__all__ = ["run_join", "run_race"]

# Errors in the workflow *code* (not in its work) propagate at once instead
# of being recorded as a failed branch.
_PROPAGATE = (Stopped, HistoryDivergedError, DuplicateNameError, asyncio.CancelledError)


async def _branch(ctx: WorkflowContext, location: Location, name: str, fn: BranchFn) -> bytes:
    result = fn(ctx._branch_context(location, name))
    if inspect.isawaitable(result):
        result = await result
    return encode_value(result)


def _decode(raw: bytes | None) -> Any:
    return None if raw is None else decode_value(raw)


async def _discover(
    ctx: WorkflowContext, location: Location, branches: Mapping[str, BranchFn]
) -> None:
    """Rollback discovery: walk every branch's recorded entries, whatever its status.

    A branch that completed in an earlier run is not re-run normally, so its
    steps' rollback callbacks would stay unknown. The first failure a branch
    re-raises (an exhausted step) propagates like the real run's did.
    """
    results = await asyncio.gather(
        *(_branch(ctx, location, n, fn) for n, fn in branches.items()), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Uncharted):
            raise result


def _check_branches(
    ctx: WorkflowContext, entry: Entry, recorded: Mapping[str, object], names: list[str], what: str
) -> None:
    if sorted(recorded) != sorted(names):
        ex = ctx._ex
        raise HistoryDivergedError(
            ex.path(entry.location),
            f"{what} with branches {sorted(recorded)}",
            f"{what} with branches {sorted(names)}",
        )


def _start(ctx: WorkflowContext, location: Location, kind: JoinKind | RaceKind) -> Entry:
    now = ctx._ex.clock.now_ms()
    meta = EntryMetadata(EntryStatus.RUNNING, attempts=1, last_attempt_at=now, created_at=now)
    return ctx._create(location, kind, meta)


async def run_join(
    ctx: WorkflowContext, location: Location, entry: Entry | None, branches: Mapping[str, BranchFn]
) -> tuple[Any, ...]:
    """Body of ``ctx.join`` once its entry has been matched."""
    ex, store = ctx._ex, ctx._ex.store
    names = list(branches)
    if entry is None:
        entry = _start(ctx, location, JoinKind({n: BranchStatus() for n in names}))
    assert isinstance(entry.kind, JoinKind)
    _check_branches(ctx, entry, entry.kind.branches, names, "join")
    statuses = dict(entry.kind.branches)
    if ex.discovering:
        await _discover(ctx, location, branches)
        if store.meta[entry.id].status is not EntryStatus.COMPLETED:
            raise Uncharted()
        return tuple(_decode(statuses[n].output) for n in names)
    to_run = [n for n in names if statuses[n].status is not BranchState.COMPLETED]
    results = await asyncio.gather(
        *(_branch(ctx, location, n, branches[n]) for n in to_run), return_exceptions=True
    )
    suspends: list[Suspend] = []
    failure: BaseException | None = None
    for name, result in zip(to_run, results, strict=True):
        if isinstance(result, _PROPAGATE):
            raise result
        if isinstance(result, Suspend):
            statuses[name] = BranchStatus(BranchState.RUNNING)
            suspends.append(result)
        elif isinstance(result, BaseException):
            statuses[name] = BranchStatus(BranchState.FAILED, None, describe_error(result))
            failure = failure or result
        else:
            statuses[name] = BranchStatus(BranchState.COMPLETED, result, None)
    now = ex.clock.now_ms()
    meta = store.meta[entry.id]
    if failure is not None:
        meta = meta._replace(status=EntryStatus.FAILED, error=describe_error(failure))
    elif not suspends:
        meta = meta._replace(status=EntryStatus.COMPLETED, error=None, completed_at=now)
    store.update(store.entry(entry.id), JoinKind(statuses), meta)
    await store.flush()
    if failure is not None:
        raise failure
    if suspends:
        raise Suspend.earliest(suspends)
    outputs = [statuses[n].output for n in names]
    return tuple(_decode(raw) for raw in outputs)


async def run_race(
    ctx: WorkflowContext, location: Location, entry: Entry | None, branches: Mapping[str, BranchFn]
) -> tuple[str, Any]:
    """Body of ``ctx.race`` once its entry has been matched."""
    ex, store = ctx._ex, ctx._ex.store
    names = list(branches)
    if entry is None:
        entry = _start(ctx, location, RaceKind(None, {n: BranchStatus() for n in names}))
    assert isinstance(entry.kind, RaceKind)
    _check_branches(ctx, entry, entry.kind.branches, names, "race")
    winner = entry.kind.winner
    if ex.discovering:
        await _discover(ctx, location, branches)
        if winner is None:
            raise Uncharted()
    if winner is not None:
        return winner, _decode(entry.kind.branches[winner].output)
    statuses = dict(entry.kind.branches)
    tasks = {asyncio.ensure_future(_branch(ctx, location, n, branches[n])): n for n in names}
    pending = set(tasks)
    suspends: list[Suspend] = []
    failures: list[BaseException] = []
    try:
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: names.index(tasks[t])):
                name = tasks[task]
                if task.cancelled():
                    statuses[name] = BranchStatus(BranchState.CANCELLED)
                    continue
                exc = task.exception()
                if exc is None:
                    statuses[name] = BranchStatus(BranchState.COMPLETED, task.result(), None)
                    winner = winner or name
                elif isinstance(exc, _PROPAGATE):
                    raise exc
                elif isinstance(exc, Suspend):
                    statuses[name] = BranchStatus(BranchState.RUNNING)
                    suspends.append(exc)
                else:
                    statuses[name] = BranchStatus(BranchState.FAILED, None, describe_error(exc))
                    failures.append(exc)
    finally:
        # The losers are cancelled (a step callback among them sees CancelledError).
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    for task in pending:
        statuses[tasks[task]] = BranchStatus(BranchState.CANCELLED)
    if winner is not None:
        # Losers that were still waiting will never run again.
        for name, status in statuses.items():
            if status.status in (BranchState.PENDING, BranchState.RUNNING):
                statuses[name] = BranchStatus(BranchState.CANCELLED)
    now = ex.clock.now_ms()
    meta = store.meta[entry.id]
    if winner is not None:
        meta = meta._replace(status=EntryStatus.COMPLETED, completed_at=now)
    elif not suspends:
        meta = meta._replace(status=EntryStatus.FAILED, error=describe_error(failures[0]))
    store.update(store.entry(entry.id), RaceKind(winner, statuses), meta)
    await store.flush()
    if winner is not None:
        raw = statuses[winner].output
        return winner, decode_value(raw) if raw is not None else None
    if suspends:
        raise Suspend.earliest(suspends)
    raise failures[0]
