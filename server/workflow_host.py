"""An actor's workflow: the engine's ``WorkflowRunner`` wired to the actor.

What the actor gets from here:

* the runner itself (started with the actor, so a workflow that was asleep or
  waiting for a message when the process died resumes on its persisted alarm),
* the queue (``send`` with a bound, ``queue_status`` for the inspector),
* replay, with the engine's refusals mapped to PROTOCOL.md §8 codes, and
  the operator layer on top (``replay_ops.ReplayOperator``: by path, dry run,
  audit in the namespace ``audit/{actorId}``, archived attempts) that every
  transport's replay goes through,
* on every history write: ``HistoryChanged``, ``QueueChanged`` when the queue
  size moved, the actor state saved if a step changed it, and a span for
  every step attempt that finished (ENGINE.md metadata: lastAttemptAt,
  completedAt, status).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from actorscope.engine import WorkflowContext
from actorscope.engine.errors import ReplayInFlight, ReplayTargetNotStep, StepNotFound, WorkflowBusy
from actorscope.engine.model import EntryStatus, StepKind
from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.engine.runner import WorkflowRunner
from actorscope.engine.snapshot import HistorySnapshot

from . import errors
from .audit import ReplayAudit
from .definitions import Workflow
from .inspector_api import HistoryChanged, QueueChanged, QueueInfo, QueueMessageInfo
from .jsonvalues import history_to_json
from .replay_ops import ReplayOperator
from .store import ActorStore
from .traces import Span

if TYPE_CHECKING:
    from .actor import ActorInstance

__all__ = ["QUEUE_MAX_SIZE", "WorkflowHost"]

log = logging.getLogger("actorscope.server")

#: Pending messages a workflow queue holds before sends are refused (409 queue.full).
QUEUE_MAX_SIZE = 1000

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
        self._context = actor.context()
        self._audit_driver = store.driver(f"audit/{actor.actor_id}")
        self.operator = ReplayOperator(
            self, ReplayAudit(self._audit_driver), self._driver, history_to_json
        )

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
        )

    async def start(self) -> None:
        # Steps finished before a restart were traced then (spans persist).
        self._mark_traced(await self.runner.history(), record=False)
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
        if len(await self.runner.queue_messages()) >= QUEUE_MAX_SIZE:
            raise errors.queue_full(QUEUE_MAX_SIZE)
        await self.runner.send(name, value)
        await self._refresh_queue_size()

    async def _refresh_queue_size(self) -> None:
        size = len(await self.runner.queue_messages())
        if size != self._queue_size:
            self._queue_size = size
            self._actor.emit(QueueChanged(size))

    async def queue_status(self, limit: int) -> QueueInfo:
        pending = await self.runner.queue_messages()
        shown = [QueueMessageInfo(m.id, m.name, m.created_at_ms) for m in pending[:limit]]
        return QueueInfo(len(pending), QUEUE_MAX_SIZE, shown, len(pending) > limit)

    # replay -----------------------------------------------------------------------

    async def replay(self, entry_id: str | None) -> HistorySnapshot:
        """Rewind through the engine; its refusals become §8 ``InspectorError``s.

        This is the bare rewind ``ReplayOperator`` calls; callers go through
        ``operator.replay`` so that the replay is audited and archived.
        """
        try:
            return await self.runner.replay(entry_id)
        except StepNotFound as exc:
            raise errors.step_not_found(str(exc)) from exc
        except ReplayTargetNotStep as exc:
            raise errors.replay_target_not_step(str(exc)) from exc
        except (ReplayInFlight, WorkflowBusy) as exc:
            raise errors.replay_in_flight(str(exc)) from exc
