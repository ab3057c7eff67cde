"""``WorkflowContext``: the API a workflow function uses.

Every method is one durable operation (ENGINE.md "Entries and where they
live"). Each one first *matches* the call against the recorded history at
its location — same position under the parent, same name, same kind, or a
:class:`HistoryDivergedError` — and then either returns the recorded result
or does the work and records it with one driver batch.

Callback conventions:

* step callbacks take **no arguments** (close over what they need, or use
  ``functools.partial``); they may be sync or async. ``ctx.env`` carries
  whatever the host passed as ``env=`` (the server passes the actor), so a
  step can reach the outside world: ``ctx.step("save", lambda: ctx.env.append(x))``.
* rollback callbacks receive the step's recorded output (sync or async).
* loop ``run`` callbacks receive ``(ctx, state)`` where ``ctx`` is the
  context of that iteration (its entries live under ``loop/~N/...``) and
  return ``Loop.continue_(state)`` or ``Loop.break_(value)``.
* join / race branches receive a branch context (``join/branch/...``).
* ``version(name, latest)`` returns the code version a run takes at that
  point (recorded on first use; see :meth:`WorkflowContext.version`).

Values returned to the workflow are always the MessagePack round trip of
what was recorded (tuples come back as lists), so a first run and a replay
see identical values.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from .branches import run_join, run_race
from .codec import decode_value, encode_value
from .errors import DuplicateNameError, HistoryDivergedError, StepExhausted
from .execution import Execution, Suspend, Uncharted, describe_error
from .loops import LoopBreak, LoopContinue
from .model import (
    KIND_NAMES,
    Entry,
    EntryKind,
    EntryMetadata,
    EntryStatus,
    Location,
    LoopKind,
    LoopMarker,
    RemovedKind,
    RollbackCheckpointKind,
    SleepKind,
    SleepState,
    StepKind,
    VersionCheckKind,
    kind_name,
)
from .queue import WorkflowQueue
from .retry import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BASE, DEFAULT_RETRY_CAP, backoff_ms

__all__ = ["BranchFn", "LoopRun", "WorkflowContext"]

LoopRun: TypeAlias = Callable[
    ["WorkflowContext", Any], "LoopContinue | LoopBreak | Awaitable[LoopContinue | LoopBreak]"
]
BranchFn: TypeAlias = Callable[["WorkflowContext"], Any]


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class WorkflowContext:
    """The durable operations available to a workflow (or a loop iteration, or a branch)."""

    __slots__ = ("_ex", "_parent", "queue")

    def __init__(self, execution: Execution, parent: Location = ()) -> None:
        self._ex = execution
        self._parent = parent
        self.queue = WorkflowQueue(self)

    @property
    def workflow_id(self) -> str:
        return self._ex.workflow_id

    @property
    def env(self) -> Any:
        """The host object given as ``env=`` to ``run_workflow`` / ``WorkflowRunner``."""
        return self._ex.env

    @property
    def path(self) -> str:
        """This context's location path (``""`` at the top level)."""
        return self._ex.path(self._parent)

    def now_ms(self) -> int:
        """The engine clock (not durable: record it with a step if it matters)."""
        return self._ex.clock.now_ms()

    # -- matching against history -----------------------------------------

    def _visit(self, name: str) -> Location:
        """The location of child ``name`` of this context, claimed for this run.

        Raises ``DuplicateNameError`` when the run already used it, and
        ``Uncharted`` in discovery for a name never recorded.
        """
        ex, store = self._ex, self._ex.store
        ex.check_stop()
        if ex.discovering:
            # Discovery only walks what was recorded; it must not register names.
            index = store.name_ids.get(name)
            if index is None:
                raise Uncharted()
            location: Location = (*self._parent, index)
        else:
            location = (*self._parent, store.name_index(name))
        if location in ex.visited:
            raise DuplicateNameError(ex.path(location))
        ex.visited.add(location)
        return location

    def _enter(
        self, name: str, kind: str, *, removed_kind: str | None = None
    ) -> tuple[Location, Entry | None]:
        """Resolve ``name`` under this context to a location and its recorded entry.

        Children of one parent are created in order, so the next recorded
        child must be this call; anything else is a divergence (ENGINE.md
        "Determinism").
        """
        ex, store = self._ex, self._ex.store
        location = self._visit(name)
        siblings = store.children.get(self._parent)
        cursor = ex.cursors.get(self._parent, 0)
        if siblings is not None:
            # Version checks are matched by location (see ``version``), so
            # they do not take part in the order of their siblings.
            while cursor < len(siblings) and isinstance(
                store.entry(siblings[cursor]).kind, VersionCheckKind
            ):
                cursor += 1
        if siblings is None or cursor >= len(siblings):
            if ex.discovering:
                raise Uncharted()
            return location, None
        recorded = store.entry(siblings[cursor])
        recorded_kind = kind_name(recorded.kind)
        matches = recorded.location == location and (
            recorded_kind == kind
            or (removed_kind is not None and recorded_kind in (removed_kind, "removed"))
        )
        if not matches:
            recorded_name = store.names[_last_name(recorded.location)]
            raise HistoryDivergedError(
                ex.path(recorded.location),
                f"{recorded_kind} {recorded_name!r}",
                f"{(removed_kind and 'removed ' + removed_kind) or kind} {name!r}",
            )
        ex.cursors[self._parent] = cursor + 1
        return location, recorded

    def _create(self, location: Location, kind: EntryKind, meta: EntryMetadata) -> Entry:
        store = self._ex.store
        entry = store.add_entry(location, kind, meta)
        self._ex.cursors[self._parent] = len(store.children[self._parent])
        return entry

    # -- operations --------------------------------------------------------

    async def step(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = None,
        rollback: Callable[[Any], Any] | None = None,
        retry_base: float = DEFAULT_RETRY_BASE,
        retry_cap: float = DEFAULT_RETRY_CAP,
    ) -> Any:
        """Run ``fn`` once durably and return its (recorded) result.

        A failed attempt is recorded (FAILED) and the run sleeps until the
        retry; after ``max_retries`` retries the step is EXHAUSTED and this
        raises :class:`StepExhausted`. ``timeout`` (seconds, async callbacks)
        fails an attempt that takes longer. There is no RUNNING write before
        the callback: a step whose completion was not recorded simply runs
        again (at-least-once), and one batch per step keeps steps fast.
        """
        ex, store = self._ex, self._ex.store
        location, entry = self._enter(name, "step")
        if rollback is not None:
            ex.rollbacks[location] = rollback
        meta = store.meta[entry.id] if entry is not None else None
        if entry is not None and meta is not None:
            assert isinstance(entry.kind, StepKind)
            if meta.status is EntryStatus.COMPLETED and entry.kind.output is not None:
                return decode_value(entry.kind.output)
            if meta.status is EntryStatus.EXHAUSTED:
                raise StepExhausted(ex.path(location), meta.attempts, meta.error or "")
            if ex.discovering:
                raise Uncharted()
            if meta.status is EntryStatus.FAILED:
                retry_at = meta.last_attempt_at + backoff_ms(meta.attempts, retry_base, retry_cap)
                if ex.clock.now_ms() < retry_at:
                    raise Suspend(retry_at)
        ex.check_stop()
        attempts = (meta.attempts if meta is not None else 0) + 1
        started = ex.clock.now_ms()
        error: BaseException | None = None
        raw = b""
        ex.executing.add(location)
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await (
                    asyncio.wait_for(result, timeout) if timeout is not None else result
                )
            raw = encode_value(result)
        except Exception as exc:
            error = exc
        finally:
            ex.executing.discard(location)
        now = ex.clock.now_ms()
        created = meta.created_at if meta is not None else started
        if error is None:
            kind = StepKind(raw, None)
            new_meta = EntryMetadata(EntryStatus.COMPLETED, None, attempts, started, created, now)
        else:
            text = (
                f"timed out after {timeout}s"
                if isinstance(error, TimeoutError) and timeout is not None
                else describe_error(error)
            )
            status = EntryStatus.EXHAUSTED if attempts > max_retries else EntryStatus.FAILED
            kind = StepKind(None, text)
            new_meta = EntryMetadata(status, text, attempts, now, created)
        if entry is None:
            self._create(location, kind, new_meta)
        else:
            store.update(entry, kind, new_meta)
        if error is None:
            # The state as this step left it, in the step's own batch.
            ex.checkpoint()
        await store.flush()
        if error is None:
            return decode_value(raw)
        if new_meta.status is EntryStatus.EXHAUSTED:
            raise StepExhausted(ex.path(location), attempts, new_meta.error or "") from error
        # ENGINE.md: a failed attempt is not a failed run; sleep until the retry.
        raise Suspend(now + backoff_ms(attempts, retry_base, retry_cap))

    async def loop(self, name: str, state: Any, run: LoopRun) -> Any:
        """Run ``run(iteration_ctx, state)`` until it returns ``Loop.break_(value)``.

        The loop entry records the state and iteration number after every
        iteration, so a resumed run continues at the iteration in progress.
        """
        ex, store = self._ex, self._ex.store
        location, entry = self._enter(name, "loop")
        now = ex.clock.now_ms()
        if entry is None:
            raw_state = encode_value(state)
            meta = EntryMetadata(
                EntryStatus.RUNNING, attempts=1, last_attempt_at=now, created_at=now
            )
            entry = self._create(location, LoopKind(raw_state, 0, None), meta)
        assert isinstance(entry.kind, LoopKind)
        if ex.discovering:
            return await self._discover_loop(location, entry.kind, state, run)
        if entry.kind.output is not None:
            return decode_value(entry.kind.output)
        iteration, current = entry.kind.iteration, decode_value(entry.kind.state)
        loop_index = location[-1]
        assert isinstance(loop_index, int)
        while True:
            marker = LoopMarker(loop_index, iteration)
            outcome = await _call(run, WorkflowContext(ex, (*location, marker)), current)
            now = ex.clock.now_ms()
            if isinstance(outcome, LoopBreak):
                raw = encode_value(outcome.value)
                meta = store.meta[entry.id]._replace(status=EntryStatus.COMPLETED, completed_at=now)
                store.update(entry, LoopKind(entry.kind.state, iteration, raw), meta)
                await store.flush()
                return decode_value(raw)
            if not isinstance(outcome, LoopContinue):
                raise TypeError(
                    f"loop {ex.path(location)!r}: run must return Loop.continue_(state) "
                    f"or Loop.break_(value), got {outcome!r}"
                )
            raw = encode_value(outcome.state)
            iteration += 1
            entry = store.update(entry, LoopKind(raw, iteration, None))
            assert isinstance(entry.kind, LoopKind)
            await store.flush()
            current = decode_value(raw)

    async def _discover_loop(
        self, location: Location, recorded: LoopKind, state: Any, run: LoopRun
    ) -> Any:
        """Rollback discovery: walk every recorded iteration from the first.

        A resumed run skips finished iterations; discovery re-runs them
        (every operation in them is recorded, so nothing executes) to learn
        the rollback callbacks of their steps.
        """
        loop_index = location[-1]
        assert isinstance(loop_index, int)
        current = decode_value(encode_value(state))
        iteration = 0
        while True:
            marker = LoopMarker(loop_index, iteration)
            outcome = await _call(run, WorkflowContext(self._ex, (*location, marker)), current)
            if isinstance(outcome, LoopBreak) and recorded.output is not None:
                return decode_value(recorded.output)
            if not isinstance(outcome, LoopContinue) or iteration >= recorded.iteration:
                raise Uncharted()
            iteration += 1
            current = decode_value(encode_value(outcome.state))

    async def sleep(self, name: str, seconds: float) -> None:
        """Sleep durably for ``seconds`` (the deadline is recorded on first call)."""
        await self._sleep(name, lambda now: now + round(seconds * 1000))

    async def sleep_until(self, name: str, epoch_seconds: float) -> None:
        """Sleep durably until ``epoch_seconds`` (Unix time)."""
        await self._sleep(name, lambda _now: round(epoch_seconds * 1000))

    async def _sleep(self, name: str, deadline_of: Callable[[int], int]) -> None:
        ex, store = self._ex, self._ex.store
        location, entry = self._enter(name, "sleep")
        now = ex.clock.now_ms()
        if entry is None:
            meta = EntryMetadata(EntryStatus.PENDING, last_attempt_at=now, created_at=now)
            entry = self._create(location, SleepKind(deadline_of(now)), meta)
        assert isinstance(entry.kind, SleepKind)
        if entry.kind.state is SleepState.COMPLETED:
            return
        if ex.discovering:
            raise Uncharted()
        deadline = entry.kind.deadline
        if now < deadline:
            # ENGINE.md: a future deadline ends the run SLEEPING with an alarm.
            raise Suspend(deadline)
        meta = store.meta[entry.id]._replace(status=EntryStatus.COMPLETED, completed_at=now)
        store.update(entry, SleepKind(deadline, SleepState.COMPLETED), meta)
        await store.flush()

    async def join(self, name: str, branches: Mapping[str, BranchFn]) -> tuple[Any, ...]:
        """Run every branch concurrently; return their outputs in ``branches`` order."""
        location, entry = self._enter(name, "join")
        return await run_join(self, location, entry, branches)

    async def race(self, name: str, branches: Mapping[str, BranchFn]) -> tuple[str, Any]:
        """Run branches concurrently; the first to finish wins: ``(winner, value)``."""
        location, entry = self._enter(name, "race")
        return await run_race(self, location, entry, branches)

    def _branch_context(self, location: Location, branch: str) -> WorkflowContext:
        """The context of ``branch`` under the join/race at ``location``."""
        return WorkflowContext(self._ex, (*location, self._ex.store.name_index(branch)))

    def rollback_checkpoint(self, name: str) -> None:
        """Mark the point back to which rollbacks run when a later step exhausts.

        Not awaited: the entry is written with the next batch (or at the end
        of the run), which keeps it in order with everything after it.
        """
        location, entry = self._enter(name, "rollback_checkpoint")
        if entry is None:
            now = self._ex.clock.now_ms()
            meta = EntryMetadata(EntryStatus.COMPLETED, None, 1, now, now, now)
            self._create(location, RollbackCheckpointKind(name), meta)

    def removed(self, name: str, original_kind: str) -> None:
        """Stand in for an entry the code no longer has (kind ``"step"``, ``"loop"``, …).

        The recorded entry (or an earlier placeholder) is skipped; on a new
        history a Removed placeholder keeps the position.
        """
        if original_kind not in KIND_NAMES:
            raise ValueError(
                f"unknown entry kind {original_kind!r}; one of {', '.join(KIND_NAMES)}"
            )
        if original_kind == "version_check":
            # Version checks are matched by location, never by position: a
            # dropped one leaves no gap to stand in for.
            return
        location, entry = self._enter(name, "removed", removed_kind=original_kind)
        if entry is None:
            now = self._ex.clock.now_ms()
            meta = EntryMetadata(EntryStatus.COMPLETED, None, 0, now, now, now)
            self._create(location, RemovedKind(original_kind, name), meta)

    async def version(self, name: str, latest: int) -> int:
        """The code version this run takes at ``name``: 1 up to ``latest``.

        Branch on it to change workflow code while runs are in flight::

            if await ctx.version("charge-v2", latest=2) >= 2:
                await ctx.step("charge-with-tax", charge_with_tax)
            else:
                await ctx.step("charge", charge)

        The first time a run reaches this call it records a version check
        (docs/PROTOCOL.md §9.4 ``WorkflowVersionCheckEntry``): ``latest`` if the
        run is at its live frontier here, or 1 if its history already holds
        later entries under this context — it went past this point under
        code that had no check, so it keeps the old path. Every later run,
        resume and replay returns the recorded value, even after ``latest``
        grows. Raise ``latest`` when adding another variant; keep the old
        branches while runs that took them may still replay.

        A version check is found by its name under this context, not by its
        position among its siblings, so adding one before entries that are
        already recorded is no divergence. Like ``removed``, its entry is
        written with the next batch.

        Raises:
            ValueError: ``latest`` is not an integer >= 1.
            HistoryDivergedError: an entry of another kind is recorded under
                ``name`` here.
        """
        if isinstance(latest, bool) or not isinstance(latest, int) or latest < 1:
            raise ValueError(f"version({name!r}): latest must be an integer >= 1, got {latest!r}")
        ex, store = self._ex, self._ex.store
        location = self._visit(name)
        recorded = store.at(location)
        if recorded is not None:
            if not isinstance(recorded.kind, VersionCheckKind):
                raise HistoryDivergedError(
                    ex.path(location),
                    f"{kind_name(recorded.kind)} {name!r}",
                    f"version_check {name!r}",
                )
            return recorded.kind.resolved
        if ex.discovering:
            raise Uncharted()
        resolved = 1 if self._past_this_point() else latest
        now = ex.clock.now_ms()
        meta = EntryMetadata(EntryStatus.COMPLETED, None, 1, now, now, now)
        # Not _create: the cursor stays where it is, so the recorded entries
        # after this point (an older run's) are still matched in order.
        store.add_entry(location, VersionCheckKind(resolved, latest), meta)
        return resolved

    def _past_this_point(self) -> bool:
        """Whether this context's recorded children go on past the current position."""
        store = self._ex.store
        siblings = store.children.get(self._parent) or []
        cursor = self._ex.cursors.get(self._parent, 0)
        return any(
            not isinstance(store.entry(entry_id).kind, VersionCheckKind)
            for entry_id in siblings[cursor:]
        )


def _last_name(location: Location) -> int:
    last = location[-1]
    assert isinstance(last, int)
    return last
