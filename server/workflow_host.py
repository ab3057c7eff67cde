"""An actor's workflow: the engine's ``WorkflowRunner`` wired to the actor.

What the actor gets from here:

* the runner itself (started with the actor, so a workflow that was asleep or
  waiting for a message when the process died resumes on its persisted alarm),
* the queue (``send`` within ``queue_limits``' bounds per name and on
  distinct names, ``queue_status`` for the inspector),
* replay (the engine's ``rewind``: the state restore and the operator's
  audit record written in the rewind's own batch), and the operator layer
  on top (``replay_ops.ReplayOperator``: by path, dry run,
  audit in the namespace ``audit/{actorId}``, archived attempts) that every
  transport's replay goes through,
* on every history write: ``HistoryChanged``, ``QueueChanged`` when the queue
  size moved, the actor state saved if a step changed it, and a span for
  every step attempt that finished (ENGINE.md metadata: lastAttemptAt,
  completedAt, status),
* state checkpoints, when the definition opts in (``state_checkpoints``): the
  engine captures the actor's live state after every step, and a replay with
  ``restore_state`` writes the boundary's checkpoint back as the actor state.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from actorscope.engine import WorkflowContext
from actorscope.engine.checkpoints import StateCheckpoints
from actorscope.engine.errors import StateCheckpointsDisabled
from actorscope.engine.model import EntryStatus, MessageKind, StepKind
from actorscope.engine.queue import list_message_names
from actorscope.engine.replay import (
    DEFAULT_KEEP_ATTEMPTS,
    ReplayApplied,
    ReplayCommitted,
    ReplayDecision,
    ReplayPlan,
    ReplayPrepare,
    preview_restore,
)
from actorscope.engine.runner import WorkflowRunner
from actorscope.engine.snapshot import HistorySnapshot

from . import queue_limits
from .audit import ReplayAudit
from .definitions import Workflow
from .inspector_api import HistoryChanged, QueueChanged, QueueInfo, QueueMessageInfo
from .jsonvalues import history_to_json
from .replay_ops import ReplayOperator
from .store import ActorStore, unpack
from .traces import Span

if TYPE_CHECKING:
    from .actor import ActorInstance

__all__ = ["WorkflowHost"]

log = logging.getLogger("actorscope.server")

_FINISHED = (EntryStatus.COMPLETED, EntryStatus.FAILED, EntryStatus.EXHAUSTED)


class WorkflowHost:
    """Runs one actor's workflow for the life of the actor."""

    def __init__(
        self,
        actor: ActorInstance,
        workflow: Workflow,
        store: ActorStore,
        *,
        keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    ) -> None:
        self._actor = actor
        self._workflow = workflow
        self._driver = store.workflow_driver(actor.actor_id)
        # (entry id, attempt) of every step attempt already traced.
        self._traced: set[tuple[str, int]] = set()
        self._queue_size = 0
        # Queue names a pending ``ctx.queue.next`` waits for (queue_limits).
        self._waiting: frozenset[str] = frozenset()
        self._context = actor.context()
        self._audit_driver = store.driver(f"audit/{actor.actor_id}")
        self.operator = ReplayOperator(
            self, ReplayAudit(self._audit_driver), self._driver, history_to_json
        )
        self._store = store
        keep = actor.definition.state_checkpoints
        checkpoints = None
        if keep and actor.is_state_enabled:
            checkpoints = StateCheckpoints(actor.encoded_live_state, keep=keep)

        async def run(wctx: WorkflowContext, _input: Any) -> Any:
            return await workflow(wctx, wctx.env)

        self.runner = WorkflowRunner(
            f"actor/{actor.actor_id}",
            run,
            None,
            self._driver,
            env=self._context,
            on_history_updated=self._history_updated,
            keep_attempts=keep_attempts,
            state_checkpoints=checkpoints,
            retry_after=store.retry_after,
        )

    async def start(self) -> None:
        # Steps finished before a restart were traced then (spans persist).
        snapshot = await self.runner.history()
        self._mark_traced(snapshot, record=False)
        self._waiting = _waiting_names(snapshot)
        self._queue_size = len(await self.runner.queue_messages())
        await self.runner.start()

    async def stop(self) -> None:
        try:
            await self.runner.stop()
        finally:
            self._driver.close()
            self._audit_driver.close()

    # history --------------------------------------------------------------------

    async def history(self) -> HistorySnapshot:
        return await self.runner.history()

    def _history_updated(self, snapshot: HistorySnapshot) -> None:
        actor = self._actor
        self._mark_traced(snapshot, record=True)
        self._waiting = _waiting_names(snapshot)
        actor.emit(HistoryChanged(snapshot))
        # A step may have changed the state without saving it; and a message
        # entry means the queue shrank. Both need awaits, so run them after.
        actor.spawn(self._after_update())

    async def _after_update(self) -> None:
        await self._actor.save_state()
        await self._refresh_queue_size()

    def _mark_traced(self, snapshot: HistorySnapshot, *, record: bool) -> None:
        for entry in snapshot.entries:
            if not isinstance(entry.kind, StepKind):
                continue
            meta = snapshot.entry_metadata.get(entry.id)
            if meta is None or meta.status not in _FINISHED:
                continue
            key = (entry.id, meta.attempts)
            if key in self._traced:
                continue
            self._traced.add(key)
            if record:
                self._actor.record_span(self._step_span(snapshot, entry.id, meta))

    def _step_span(self, snapshot: HistorySnapshot, entry_id: str, meta: Any) -> Span:
        end_ms = meta.completed_at or int(time.time() * 1000)
        ok = meta.status == EntryStatus.COMPLETED
        return Span(
            name=snapshot.path(entry_id),
            start_ns=meta.last_attempt_at * 1_000_000,
            end_ns=max(end_ms, meta.last_attempt_at) * 1_000_000,
            status="ok" if ok else "error",
            message=None if ok else meta.error,
            attributes={
                "actorscope.kind": "workflow.step",
                "workflow.entry_id": entry_id,
                "workflow.attempt": meta.attempts,
            },
        )

    # queue ----------------------------------------------------------------------

    async def send(self, name: str, value: Any) -> None:
        pending = await list_message_names(self._driver)
        queue_limits.check_send(pending, name, self._waiting)
        await self.runner.send(name, value)
        await self._refresh_queue_size()

    async def _refresh_queue_size(self) -> None:
        size = len(await list_message_names(self._driver))
        if size != self._queue_size:
            self._queue_size = size
            self._actor.emit(QueueChanged(size))

    async def queue_status(self, limit: int) -> QueueInfo:
        pending = await self.runner.queue_messages()
        shown = [QueueMessageInfo(m.id, m.name, m.created_at_ms) for m in pending[:limit]]
        return QueueInfo(len(pending), queue_limits.capacity(), shown, len(pending) > limit)

    # replay -----------------------------------------------------------------------

    async def rewind(
        self,
        entry_id: str | None,
        *,
        path: str | None,
        restore_state: bool,
        prepare: ReplayPrepare,
        committed: ReplayCommitted,
    ) -> ReplayApplied:
        """The engine's rewind, with the restored state written in its batch.

        This is the bare rewind ``ReplayOperator`` calls; callers go through
        ``operator.replay`` so that the replay is audited and archived. With
        ``restore_state`` no action runs meanwhile (the actor's action lock),
        so none can write over the restored state.
        """
        actor = self._actor

        def prepare_all(decision: ReplayDecision) -> list[Any]:
            ops = list(prepare(decision))
            if decision.restored_state is not None:
                ops.append(self._store.state_write(actor.actor_id, decision.restored_state))
            return ops

        def committed_all(decision: ReplayDecision) -> None:
            if decision.restored_state is not None:
                actor.state_restored(decision.restored_state)
            committed(decision)

        if not restore_state:
            return await self.runner.rewind(
                entry_id, path=path, prepare=prepare_all, committed=committed_all
            )
        async with actor.action_lock:
            return await self.runner.rewind(
                entry_id,
                path=path,
                restore_state=True,
                prepare=prepare_all,
                committed=committed_all,
            )

    async def restore_preview(self, snapshot: HistorySnapshot, plan: ReplayPlan) -> tuple[Any, Any]:
        """(current state, state a replay with ``plan`` would restore)."""
        if self.runner.state_checkpoints is None:
            raise StateCheckpointsDisabled(self.runner.workflow_id)
        restored = await preview_restore(self._driver, snapshot, plan)
        return self._actor.state(), unpack(restored)


def _waiting_names(snapshot: HistorySnapshot) -> frozenset[str]:
    """Queue names of the message entries still waiting for a message."""
    names = set()
    for entry in snapshot.entries:
        if isinstance(entry.kind, MessageKind):
            meta = snapshot.entry_metadata.get(entry.id)
            if meta is not None and meta.status is EntryStatus.PENDING:
                names.add(entry.kind.name)
    return frozenset(names)
