"""Replay from a step (ENGINE.md "Replay from a step", rules 1-8).

:func:`plan_replay` is a pure function of a snapshot: it finds the boundary
(rules 2-3), the discarded entries (rule 4) and the join branches that go
back to running, and refuses with ``ReplayInFlight`` when a kept step is
RUNNING (rule 5). It serves dry runs too. :func:`replay_from_step` checks
the live run, applies the plan as **one** atomic batch (rules 6-7) — prefix
deletes by creation sequence, the join updates, the workflow record
(SLEEPING, output/error cleared, wake now) and an archive of what was
discarded as "attempt N" — and returns the snapshot after it (rule 8).

:func:`rewind` is the same replay for hosts: it resolves a path target and
plans **inside** the workflow's lock (so concurrent replays each plan on the
history the previous one left), lets the host add its own ops to the one
batch (the server's audit record, the restored actor state) and returns
what it applied — the plan, the attempt number, the restored state.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

import attrs
import msgpack

from . import codec
from .checkpoints import CheckpointIndex, read_checkpoint
from .clock import Clock, SystemClock
from .driver import BatchOp, Delete, Driver, Set, SetAlarm
from .errors import ReplayInFlight, ReplayTargetNotStep, StepNotFound
from .execution import SlotTimeout, active_execution, claim, keep_store, open_store
from .model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryStatus,
    JoinKind,
    Location,
    LoopKind,
    LoopMarker,
    RaceKind,
    Segment,
    StepKind,
    VersionCheckKind,
    WorkflowRecord,
    WorkflowState,
    kind_name,
)
from .paths import format_location, resolve_path
from .snapshot import HistorySnapshot
from .store import HistoryStore

__all__ = [
    "DEFAULT_KEEP_ATTEMPTS",
    "ReplayApplied",
    "ReplayCommitted",
    "ReplayDecision",
    "ReplayPlan",
    "ReplayPrepare",
    "apply_replay",
    "plan_replay",
    "preview_restore",
    "replay_from_step",
    "rewind",
]

DEFAULT_KEEP_ATTEMPTS = 20
DEFAULT_STOP_TIMEOUT = 10.0


@attrs.frozen
class ReplayPlan:
    """What a replay would do.

    Attributes:
        target_id: the entry asked for (``None``: from the start).
        boundary_id: the first discarded entry (``None``: nothing to discard).
        boundary_seq: its creation sequence number; everything at or after
            it is discarded.
        discarded_ids: the discarded entries, in creation order.
        branch_resets: join entry id → branches that go back to RUNNING.
    """

    target_id: str | None
    boundary_id: str | None
    boundary_seq: int | None
    discarded_ids: tuple[str, ...]
    branch_resets: dict[str, tuple[str, ...]]


def _is_pin(entry: Entry) -> bool:
    """A version check: a replay keeps it, so a rewound run takes the version it took.

    It is re-created after the kept prefix with the same id and value (a
    version check is matched by location, not by order), and it never moves
    the boundary or resets a branch.
    """
    return isinstance(entry.kind, VersionCheckKind)


def _containers(location: Location) -> list[tuple[Location, Segment]]:
    """(location, next segment) of every prefix of ``location`` that may be a container.

    Loops, joins and races are named entries whose children sit under a
    loop-iteration marker or a branch name, so a container prefix ends with
    a name index. Outermost first.
    """
    return [
        (location[:k], location[k])
        for k in range(1, len(location))
        if not isinstance(location[k - 1], LoopMarker)
    ]


def _move_out(snapshot: HistorySnapshot, boundary: Entry) -> Entry | None:
    """A kept container that makes ``boundary`` unsafe, earliest first, or ``None``.

    A kept loop that has already moved past the iteration holding a discarded
    entry (or finished) would skip it on the re-run, so it must be rewound
    whole; a kept race would keep a stale winner (ENGINE.md rule 3).
    """
    start = bisect.bisect_left(snapshot.entries, boundary.seq, key=lambda e: e.seq)
    parents = {e.location[:-1] for e in snapshot.entries[start:] if not _is_pin(e)}
    best: Entry | None = None
    for parent in parents:
        for container_location, segment in _containers((*parent, 0)):
            container = snapshot.by_location.get(container_location)
            if container is None or container.seq >= boundary.seq:
                continue
            kind = container.kind
            unsafe = isinstance(kind, RaceKind) or (
                isinstance(kind, LoopKind)
                and isinstance(segment, LoopMarker)
                and (kind.output is not None or kind.iteration > segment.iteration)
            )
            if unsafe and (best is None or container.seq < best.seq):
                best = container
    return best


def plan_replay(snapshot: HistorySnapshot, entry_id: str | None) -> ReplayPlan:
    """Decide the boundary and what a replay discards (pure; used for dry runs).

    Raises:
        StepNotFound: no entry has ``entry_id``.
        ReplayTargetNotStep: the entry is not a Step.
        ReplayInFlight: a step that would be kept is RUNNING.
    """
    entries = snapshot.entries
    names = snapshot.name_registry
    boundary: Entry | None
    if entry_id is None:
        # Rule 1: discard everything (version checks are kept, see _is_pin).
        boundary = next((e for e in entries if not _is_pin(e)), None)
    else:
        target = snapshot.by_id.get(entry_id)
        if target is None:
            raise StepNotFound(entry_id)
        if not isinstance(target.kind, StepKind):
            path = format_location(names, target.location)
            raise ReplayTargetNotStep(entry_id, kind_name(target.kind), path)
        boundary = target
        # Rule 3: inside loops, the innermost enclosing loop rewinds whole.
        for container_location, segment in reversed(_containers(target.location)):
            container = snapshot.by_location.get(container_location)
            if container is not None and isinstance(segment, LoopMarker):
                boundary = container
                break
        # Then move out while a kept loop skipped past it, or a race encloses it.
        while (outer := _move_out(snapshot, boundary)) is not None:
            boundary = outer
    if boundary is None:
        return ReplayPlan(entry_id, None, None, (), {})
    start = bisect.bisect_left(entries, boundary.seq, key=lambda e: e.seq)
    discarded = [e for e in entries[start:] if not _is_pin(e)]
    # Rule 5: a RUNNING step that would be kept means a live run owns it.
    for running_id, meta in snapshot.entry_metadata.items():
        if meta.status is not EntryStatus.RUNNING:
            continue
        entry = snapshot.by_id.get(running_id)
        if entry is None:
            continue  # metadata without an entry (a foreign history): nothing runs
        if isinstance(entry.kind, StepKind) and entry.seq < boundary.seq:
            raise ReplayInFlight(format_location(names, entry.location), "is running")
    resets: dict[str, set[str]] = {}
    for parent in {entry.location[:-1] for entry in discarded}:
        for container_location, segment in _containers((*parent, 0)):
            container = snapshot.by_location.get(container_location)
            if (
                container is not None
                and container.seq < boundary.seq
                and isinstance(container.kind, JoinKind)
                and isinstance(segment, int)
            ):
                resets.setdefault(container.id, set()).add(names[segment])
    return ReplayPlan(
        entry_id,
        boundary.id,
        boundary.seq,
        tuple(entry.id for entry in discarded),
        {join_id: tuple(sorted(branches)) for join_id, branches in resets.items()},
    )


@attrs.frozen
class ReplayDecision:
    """What a replay is about to apply, shown to the host before anything is written.

    Attributes:
        plan: the plan, made inside the workflow's lock on the current history.
        attempt: the number the discarded entries are archived under
            (``None``: nothing is discarded).
        before: the history the plan was made on. A view sharing the live
            store: valid only during the ``prepare`` call.
        restored_state: the state checkpoint being restored (``restore_state``).
        now_ms: the replay's time.
    """

    plan: ReplayPlan
    attempt: int | None
    before: HistorySnapshot
    restored_state: bytes | None
    now_ms: int


@attrs.frozen
class ReplayApplied:
    """What a replay did: the plan it applied, the attempt it archived, the history after."""

    plan: ReplayPlan
    attempt: int | None
    restored_state: bytes | None
    snapshot: HistorySnapshot


#: Called with the decision; returns host ops written in the replay's own batch.
ReplayPrepare = Callable[[ReplayDecision], Iterable[BatchOp]]
#: Called with the decision right after that batch committed (before any await).
ReplayCommitted = Callable[[ReplayDecision], None]


async def replay_from_step(
    workflow_id: str,
    driver: Driver,
    entry_id: str | None = None,
    *,
    clock: Clock | None = None,
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    stop_timeout: float = DEFAULT_STOP_TIMEOUT,
) -> HistorySnapshot:
    """Rewind the workflow so the step ``entry_id`` and everything after it run again.

    A live run of this workflow in this process is stopped first (at its
    next operation) unless it is executing a step callback right now, which
    refuses the replay. Returns the snapshot right after the rewind; the
    workflow is SLEEPING with its wake time (and the driver alarm) at now.
    :func:`rewind` does the same and says what it did.

    ``stop_timeout`` bounds the wait for a live run to reach its next
    operation (plain ``await``s in workflow code are not operations).

    Raises:
        StepNotFound, ReplayTargetNotStep, ReplayInFlight: see ENGINE.md rules 2 and 5;
            the history is untouched.
    """
    applied = await rewind(
        workflow_id,
        driver,
        entry_id,
        clock=clock,
        keep_attempts=keep_attempts,
        stop_timeout=stop_timeout,
    )
    return applied.snapshot


async def rewind(
    workflow_id: str,
    driver: Driver,
    entry_id: str | None = None,
    *,
    path: str | None = None,
    restore_state: bool = False,
    prepare: ReplayPrepare | None = None,
    committed: ReplayCommitted | None = None,
    clock: Clock | None = None,
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    stop_timeout: float = DEFAULT_STOP_TIMEOUT,
) -> ReplayApplied:
    """``replay_from_step``, planned once inside the lock, returning what it applied.

    Args:
        entry_id: the target step (``None`` with no ``path``: from the start).
        path: the target as a location path, resolved inside the lock.
        restore_state: also restore the state checkpoint of the boundary
            (``checkpoints.py``); it is handed to ``prepare``/``committed`` as
            ``restored_state`` for the host to write.
        prepare: called with the decision before anything is written; its
            ops join the rewind's one atomic batch (``Linked`` ops reach the
            host's own namespaces). If it raises, nothing is written.
        committed: called right after that batch committed.

    Concurrent calls are serialized by the workflow's lock, each planning on
    the history the previous one left: attempt numbers and discarded counts
    are those of the rewind that happened.

    Raises:
        StepNotFound, ReplayTargetNotStep, ReplayInFlight: nothing changed.
        StateCheckpointUnavailable: ``restore_state`` and the boundary's
            checkpoint is not kept; nothing changed.
    """
    clock = clock or SystemClock()
    live = active_execution(workflow_id, driver)
    if live is not None:
        if live.executing:
            # An unknown or non-step target is named as such (rules 2 before 5).
            view = live.store.view()
            plan_replay(view, resolve_path(view, path) if path is not None else entry_id)
            raise ReplayInFlight(", ".join(sorted(live.executing_paths())), "is executing")
        live.stop_requested = True
    try:
        async with claim(workflow_id, driver, run=False, timeout=stop_timeout):
            store = await open_store(workflow_id, driver)
            try:
                return await apply_replay(
                    store,
                    entry_id,
                    clock.now_ms(),
                    keep_attempts,
                    path=path,
                    restore_state=restore_state,
                    prepare=prepare,
                    committed=committed,
                )
            finally:
                keep_store(workflow_id, store)
    except SlotTimeout:
        # The live run is inside workflow code that never reaches another
        # operation; it will stop when it does (the stop stays requested).
        raise ReplayInFlight(workflow_id, "did not stop in time", what="workflow") from None


async def apply_replay(
    store: HistoryStore,
    entry_id: str | None,
    now: int,
    keep_attempts: int,
    *,
    path: str | None = None,
    restore_state: bool = False,
    prepare: ReplayPrepare | None = None,
    committed: ReplayCommitted | None = None,
) -> ReplayApplied:
    """Plan and apply a replay on a loaded store (one batch); say what was applied."""
    view = store.view()
    if path is not None:
        entry_id = resolve_path(view, path)
    plan = plan_replay(view, entry_id)
    attempt = store.next_attempt if plan.boundary_seq is not None else None
    restored: bytes | None = None
    if restore_state:
        restored = await _restore_point(store, plan)
    decision = ReplayDecision(plan, attempt, view, restored, now)
    # Host ops first, before the store changes: if prepare raises, nothing happened.
    host_ops = list(prepare(decision)) if prepare is not None else []
    ops: list[BatchOp] = []
    if plan.boundary_seq is not None:
        ops.append(codec.delete_from(codec.ENTRY, plan.boundary_seq))
        ops.append(codec.delete_from(codec.META, plan.boundary_seq))
        ops += await _archive(store, plan, now, keep_attempts)
        ops += store.checkpoints.discard_after(plan.boundary_seq)
        cut = store.cut_index(plan.boundary_seq)
        pins = [(e, store.meta[e.id]) for e in store.entries[cut:] if _is_pin(e)]
        store.truncate(plan.boundary_seq)
        for entry, meta in pins:
            ops += store.reinsert(entry, meta)
        ops.append(Set(codec.COUNTER_SEQ, str(store.next_seq).encode()))
    if restored is not None:
        store.checkpoints.last = restored
    for join_id, branches in plan.branch_resets.items():
        join = store.entry(join_id)
        assert isinstance(join.kind, JoinKind)
        statuses = dict(join.kind.branches)
        for branch in branches:
            statuses[branch] = BranchStatus(BranchState.RUNNING)
        meta = store.meta[join_id]._replace(
            status=EntryStatus.RUNNING, error=None, completed_at=None
        )
        store.update(join, JoinKind(statuses), meta)
    # Rule 6: output and error cleared, SLEEPING, alarm now — same batch (rule 7).
    store.set_record(WorkflowRecord(WorkflowState.SLEEPING, wake_at=now))
    await store.flush([*ops, *host_ops, SetAlarm(now)])
    if committed is not None:
        committed(decision)
    return ReplayApplied(plan, attempt, restored, store.snapshot())


async def _restore_point(store: HistoryStore, plan: ReplayPlan) -> bytes:
    """The state checkpoint a rewind with ``plan`` restores (checkpoints.py)."""
    return await _checkpoint_for(store.checkpoints, store.driver, store.view(), plan)


async def preview_restore(driver: Driver, snapshot: HistorySnapshot, plan: ReplayPlan) -> bytes:
    """The state checkpoint a replay with ``plan`` would restore (for dry runs).

    Raises:
        StateCheckpointUnavailable: it is not kept.
    """
    index = await CheckpointIndex.load(driver)
    return await _checkpoint_for(index, driver, snapshot, plan)


async def _checkpoint_for(
    index: CheckpointIndex, driver: Driver, snapshot: HistorySnapshot, plan: ReplayPlan
) -> bytes:
    where = "the start" if plan.boundary_id is None else snapshot.path(plan.boundary_id)
    number = index.restore_point(plan.boundary_seq, where)
    return await read_checkpoint(driver, number, where)


async def _archive(
    store: HistoryStore, plan: ReplayPlan, now: int, keep_attempts: int
) -> list[BatchOp]:
    """Ops that save the discarded entries as attempt N and drop attempts past the limit."""
    number = store.next_attempt
    store.next_attempt += 1
    assert plan.boundary_seq is not None
    cut = store.cut_index(plan.boundary_seq)
    discarded = store.entries[cut:]
    record = store.record
    header = {
        "number": number,
        "createdAt": now,
        "targetId": plan.target_id,
        "boundaryId": plan.boundary_id,
        # What the replay discarded (version checks in the cut are carried over).
        "entries": len(plan.discarded_ids),
        "state": record.state.value,
        "error": record.error,
    }
    # Flat lists of ints and bytes: cheap to build and to pack.
    body = [
        list(store.names),
        [e.seq for e in discarded],
        store.entry_raw[cut:],
        store.meta_raw[cut:],
        codec.encode_record(record),
    ]
    ops: list[BatchOp] = [
        Set(codec.int_key(codec.ATTEMPT_HEAD, number), msgpack.packb(header)),
        Set(codec.int_key(codec.ATTEMPT_BODY, number), msgpack.packb(body, use_bin_type=True)),
        Set(codec.COUNTER_ATTEMPT, str(store.next_attempt).encode()),
    ]
    keep = max(keep_attempts, 0)
    if store.attempts_kept == keep:
        # Every attempt up to number - 1 - keep is gone already (this store
        # pruned them): only one falls off now, and it is known by number.
        # A Delete of an attempt that never existed changes nothing.
        old = number - keep
        if old >= 1:
            ops.append(Delete(codec.int_key(codec.ATTEMPT_HEAD, old)))
            ops.append(Delete(codec.int_key(codec.ATTEMPT_BODY, old)))
        return ops
    for key, _ in await store.driver.list(codec.ATTEMPT_HEAD):
        old = codec.key_number(key, codec.ATTEMPT_HEAD)
        if old <= number - keep:
            ops.append(Delete(key))
            ops.append(Delete(codec.int_key(codec.ATTEMPT_BODY, old)))
    store.attempts_kept = keep
    return ops
