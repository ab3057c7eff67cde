"""Where an actor's workflow stands, in one word, plus the steps running right now.

The history alone cannot say that a step is running: the engine writes a
step's entry only when its callback has returned (docs/ENGINE.md, steps: no
RUNNING write before the callback). The web inspector needs to know, to
disable its replay controls while a step runs, so this asks the engine's
active execution directly. ``status`` is one of:

* ``running`` — a step (or rollback) callback executes now, or a run is active;
* ``sleeping`` — suspended on a sleep or until a failed step's retry;
* ``waiting`` — suspended on a queue message;
* ``failed`` — the run failed (a step exhausted its retries), or a step
  failed and waits for its retry (``retrying`` is then true);
* ``done`` — the workflow returned;
* ``pending`` — it has not run yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorscope.engine import EntryStatus, MessageKind, SleepKind, SleepState, WorkflowState
from actorscope.engine.execution import active_execution

if TYPE_CHECKING:
    from actorscope.engine import HistorySnapshot

    from .workflow_host import WorkflowHost

__all__ = ["workflow_status"]


def _executing_paths(host: WorkflowHost) -> list[str]:
    runner = host.runner
    execution = active_execution(runner.workflow_id, runner.driver)
    if execution is None:
        return []
    return sorted(execution.executing_paths())


def _open_wait(snapshot: HistorySnapshot) -> str | None:
    """``waiting`` / ``sleeping`` for the last unfinished message or sleep entry."""
    for entry in reversed(snapshot.entries):
        meta = snapshot.entry_metadata.get(entry.id)
        if isinstance(entry.kind, MessageKind) and (
            meta is None or meta.status is not EntryStatus.COMPLETED
        ):
            return "waiting"
        if isinstance(entry.kind, SleepKind) and entry.kind.state is SleepState.PENDING:
            return "sleeping"
    return None


def _retrying(snapshot: HistorySnapshot) -> bool:
    return any(m.status is EntryStatus.FAILED for m in snapshot.entry_metadata.values())


def workflow_status(host: WorkflowHost, snapshot: HistorySnapshot) -> dict[str, Any]:
    """``{"status", "executing": [paths], "retrying"}`` of one workflow (see the module doc)."""
    executing = _executing_paths(host)
    retrying = _retrying(snapshot)
    state = host.runner.state
    status: str
    if executing:
        status = "running"
    elif state is WorkflowState.COMPLETED:
        status = "done"
    elif state in (WorkflowState.FAILED, WorkflowState.CANCELLED) or retrying:
        status = "failed"
    elif state is WorkflowState.PENDING and not snapshot.entries:
        status = "pending"
    else:
        active = state in (WorkflowState.RUNNING, WorkflowState.ROLLING_BACK)
        status = _open_wait(snapshot) or ("running" if active else "sleeping")
    return {"status": status, "executing": executing, "retrying": retrying}
