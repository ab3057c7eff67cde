"""Running a workflow: ``run_workflow``, ``RunResult`` and ``load_history``.

One call runs the workflow function from the top against the recorded
history: completed operations return their recorded results, new ones do
their work and are recorded. The run ends when the function returns
(COMPLETED), raises (ROLLING_BACK, then FAILED) or has to wait (SLEEPING,
with the wake time persisted in the workflow record in the same batch and
mirrored to the driver alarm). A later call with the same workflow id and
driver resumes it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import attrs

from .checkpoints import StateCheckpoints
from .clock import Clock, SystemClock
from .codec import decode_value, encode_value
from .context import WorkflowContext
from .driver import Driver, SetAlarm
from .errors import DuplicateNameError, HistoryDivergedError
from .execution import (
    Execution,
    Stopped,
    Suspend,
    Uncharted,
    claim,
    describe_error,
    keep_store,
    open_store,
)
from .model import (
    Entry,
    EntryStatus,
    RollbackCheckpointKind,
    StepKind,
    WorkflowRecord,
    WorkflowState,
)
from .snapshot import HistorySnapshot
from .store import HistoryListener, HistoryStore, StoreListener

__all__ = [
    "TERMINAL_STATES",
    "RunResult",
    "WorkflowFn",
    "load_history",
    "run_once",
    "run_workflow",
]

WorkflowFn: TypeAlias = Callable[[WorkflowContext, Any], Awaitable[Any]]

# States in which a run does nothing until a replay rewinds the workflow.
TERMINAL_STATES = frozenset(
    {WorkflowState.COMPLETED, WorkflowState.FAILED, WorkflowState.CANCELLED}
)


@attrs.frozen
class RunResult:
    """How one run ended.

    Attributes:
        state: ``"completed"``, ``"sleeping"``, ``"failed"``, … (``WorkflowState``);
            ``"running"`` means the run was stopped early (a replay or
            ``WorkflowRunner.stop``) and the workflow continues on the next run.
        output: the workflow's return value (when completed).
        error: the error text (when failed).
        wake_at: when a sleeping workflow wants to run again (epoch ms);
            ``None`` while it waits only for a queue message.
    """

    state: WorkflowState
    output: Any = None
    error: str | None = None
    wake_at: int | None = None


def _result(record: WorkflowRecord) -> RunResult:
    output = decode_value(record.output) if record.output is not None else None
    return RunResult(record.state, output, record.error, record.wake_at)


async def load_history(driver: Driver, workflow_id: str | None = None) -> HistorySnapshot:
    """The workflow's persisted history (entries, metadata, workflow record).

    With ``workflow_id``, a history this process already holds in memory for
    that workflow and driver is reused when it is still current.
    """
    if workflow_id is None:
        return (await HistoryStore.load(driver)).snapshot()
    store = await open_store(workflow_id, driver)
    snapshot = store.snapshot()
    keep_store(workflow_id, store)
    return snapshot


async def run_workflow(
    workflow_id: str,
    fn: WorkflowFn,
    input: Any,
    driver: Driver,
    *,
    clock: Clock | None = None,
    env: Any = None,
    on_history_updated: HistoryListener | None = None,
) -> RunResult:
    """Run (or resume) a workflow once.

    Args:
        workflow_id: names the workflow in this process (runs and replays of
            one id and driver never overlap).
        fn: ``async def fn(ctx, input)``.
        input: used on the first run only; later runs reuse the stored input.
        driver: the workflow's storage namespace.
        clock: time source (tests inject a ``ManualClock``).
        env: any object, exposed to the workflow as ``ctx.env``.
        on_history_updated: called with a snapshot after every history write.

    Raises:
        HistoryDivergedError, DuplicateNameError: the code does not match its
            history; nothing is written and the workflow keeps its state.
        WorkflowBusy: another run of this workflow is active.
    """
    listener: StoreListener | None = None
    if on_history_updated is not None:
        callback = on_history_updated

        def listener(store: HistoryStore) -> None:
            callback(store.snapshot())

    return await run_once(workflow_id, fn, input, driver, clock=clock, env=env, listener=listener)


async def run_once(
    workflow_id: str,
    fn: WorkflowFn,
    input: Any,
    driver: Driver,
    *,
    clock: Clock | None = None,
    env: Any = None,
    listener: StoreListener | None = None,
    checkpoints: StateCheckpoints | None = None,
) -> RunResult:
    """``run_workflow`` with a store-level listener (the runner coalesces notifications).

    ``checkpoints``: the host's opt-in to state checkpoints (``checkpoints.py``).
    """
    clock = clock or SystemClock()
    async with claim(workflow_id, driver, run=True) as slot:
        store = await open_store(workflow_id, driver)
        if listener is not None:
            store.listeners.append(listener)
        execution = Execution(workflow_id, store, clock, env, checkpoints)
        slot.execution = execution
        result = await _execute(execution, fn, input)
        keep_store(workflow_id, store)
        return result


async def _execute(ex: Execution, fn: WorkflowFn, input: Any) -> RunResult:
    store = ex.store
    if store.record.state in TERMINAL_STATES:
        return _result(store.record)
    if store.input_raw is None:
        # ENGINE.md: the input is persisted on the first run and reused.
        store.set_input(encode_value(input))
        ex.checkpoint()  # checkpoint 0: the state before the first step
    assert store.input_raw is not None
    stored_input = decode_value(store.input_raw)
    store.set_record(WorkflowRecord(WorkflowState.RUNNING))
    try:
        output = fn(WorkflowContext(ex), stored_input)
        if inspect.isawaitable(output):
            output = await output
        raw_output = encode_value(output)
    except Suspend as suspend:
        await _finish(store, WorkflowRecord(WorkflowState.SLEEPING, wake_at=suspend.wake_at))
        return RunResult(WorkflowState.SLEEPING, wake_at=suspend.wake_at)
    except Stopped:
        return RunResult(WorkflowState.RUNNING)
    except (HistoryDivergedError, DuplicateNameError):
        raise
    except Exception as exc:
        if store.write_error is not None:
            # The storage failed, not the workflow: end the run with the
            # storage's error and record nothing; the next run resumes from
            # what was written (as after a crash).
            raise store.write_error from None
        error = describe_error(exc)
        store.set_record(WorkflowRecord(WorkflowState.ROLLING_BACK, error=error))
        await _discover_rollbacks(ex, fn, stored_input)
        await _roll_back(ex)
        await _finish(store, WorkflowRecord(WorkflowState.FAILED, error=error))
        return RunResult(WorkflowState.FAILED, error=error)
    await _finish(store, WorkflowRecord(WorkflowState.COMPLETED, output=raw_output))
    return RunResult(WorkflowState.COMPLETED, decode_value(raw_output))


async def _finish(store: HistoryStore, record: WorkflowRecord) -> None:
    store.set_record(record)
    # The record is the source of truth; the driver alarm mirrors it (in the
    # same batch) so a host can wake the workflow without loading it.
    await store.flush([SetAlarm(record.wake_at)])


def _rollback_candidates(ex: Execution) -> list[Entry]:
    """Completed steps after the latest checkpoint, newest first, not yet rolled back."""
    store = ex.store
    checkpoint = max(
        (e.seq for e in store.entries if isinstance(e.kind, RollbackCheckpointKind)), default=-1
    )
    out = []
    for entry in reversed(store.entries):
        if entry.seq <= checkpoint:
            break
        meta = store.meta[entry.id]
        if (
            isinstance(entry.kind, StepKind)
            and entry.kind.output is not None
            and meta.status is EntryStatus.COMPLETED
            and meta.rollback_completed_at is None
            and meta.rollback_error is None
        ):
            out.append(entry)
    return out


async def _discover_rollbacks(ex: Execution, fn: WorkflowFn, stored_input: Any) -> None:
    """Learn the rollback callbacks of steps this run did not reach.

    A run skips the finished iterations of a resumed loop and the branches
    of a join finished earlier, so their steps' callbacks are unknown. When
    such steps need rolling back, the workflow code walks its recorded
    history once more in discovery mode (no callback runs, nothing is
    written) and registers every callback it attaches.
    """
    if all(entry.location in ex.rollbacks for entry in _rollback_candidates(ex)):
        return
    discovery = Execution(ex.workflow_id, ex.store, ex.clock, ex.env)
    discovery.discovering = True
    try:
        result = fn(WorkflowContext(discovery), stored_input)
        if inspect.isawaitable(result):
            await result
    except (Exception, Uncharted, Suspend):
        pass  # the end of the recorded history, or the failure itself
    for location, callback in discovery.rollbacks.items():
        ex.rollbacks.setdefault(location, callback)


async def _roll_back(ex: Execution) -> None:
    """Run rollback callbacks of completed steps, newest first, back to the latest checkpoint.

    Each result (``rollbackCompletedAt`` or ``rollbackError``) is its own
    batch, so a crash mid-way resumes with the steps not yet rolled back.
    Callbacks come from this run and from :func:`_discover_rollbacks`.
    """
    store = ex.store
    for entry in _rollback_candidates(ex):
        meta = store.meta[entry.id]
        callback = ex.rollbacks.get(entry.location)
        if callback is None or not isinstance(entry.kind, StepKind) or entry.kind.output is None:
            continue
        ex.executing.add(entry.location)
        try:
            result = callback(decode_value(entry.kind.output))
            if inspect.isawaitable(result):
                await result
            meta = meta._replace(rollback_completed_at=ex.clock.now_ms())
        except Exception as exc:
            meta = meta._replace(rollback_error=describe_error(exc))
        finally:
            ex.executing.discard(entry.location)
        store.update(entry, meta=meta)
        await store.flush()
