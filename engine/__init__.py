"""actorscope.engine: durable workflows with a persisted history and replay-from-step.

The behaviour contract is ``docs/ENGINE.md``; the interfaces other layers
rely on are in ARCHITECTURE.md. Typical use::

    async def order(ctx: WorkflowContext, input: dict) -> dict:
        total = await ctx.step("charge", charge, rollback=refund)
        await ctx.sleep("cool-down", 2.0)
        return {"total": total}

    result = await run_workflow("wf-1", order, {"id": 7}, MemoryDriver())
    snapshot = await replay_from_step("wf-1", driver, entry_id)
"""

from .attempts import AttemptInfo, AttemptNotFound, list_attempts, load_attempt
from .clock import Clock, ManualClock, SystemClock
from .context import WorkflowContext
from .driver import BatchOp, Delete, DeletePrefix, Driver, Set
from .errors import (
    DuplicateNameError,
    EngineError,
    HistoryDivergedError,
    ReplayInFlight,
    ReplayTargetNotStep,
    StepExhausted,
    StepNotFound,
    WorkflowBusy,
)
from .execution import is_step_executing
from .executor import RunResult, load_history, run_workflow
from .loops import Loop, LoopBreak, LoopContinue
from .memory_driver import MemoryDriver
from .model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryMetadata,
    EntryStatus,
    JoinKind,
    LoopKind,
    LoopMarker,
    MessageKind,
    RaceKind,
    RemovedKind,
    RollbackCheckpointKind,
    SleepKind,
    SleepState,
    StepKind,
    VersionCheckKind,
    WorkflowRecord,
    WorkflowState,
)
from .paths import location_path, resolve_path
from .queue import QueueMessage, WorkflowQueue, list_messages, send_message
from .replay import ReplayPlan, plan_replay, replay_from_step
from .retry import backoff_ms
from .runner import WorkflowRunner
from .snapshot import HistorySnapshot
from .sqlite_driver import SQLiteDriver

__all__ = [
    "AttemptInfo",
    "AttemptNotFound",
    "BatchOp",
    "BranchState",
    "BranchStatus",
    "Clock",
    "Delete",
    "DeletePrefix",
    "Driver",
    "DuplicateNameError",
    "EngineError",
    "Entry",
    "EntryMetadata",
    "EntryStatus",
    "HistoryDivergedError",
    "HistorySnapshot",
    "JoinKind",
    "Loop",
    "LoopBreak",
    "LoopContinue",
    "LoopKind",
    "LoopMarker",
    "ManualClock",
    "MemoryDriver",
    "MessageKind",
    "QueueMessage",
    "RaceKind",
    "RemovedKind",
    "ReplayInFlight",
    "ReplayPlan",
    "ReplayTargetNotStep",
    "RollbackCheckpointKind",
    "RunResult",
    "SQLiteDriver",
    "Set",
    "SleepKind",
    "SleepState",
    "StepExhausted",
    "StepKind",
    "StepNotFound",
    "SystemClock",
    "VersionCheckKind",
    "WorkflowBusy",
    "WorkflowContext",
    "WorkflowQueue",
    "WorkflowRecord",
    "WorkflowRunner",
    "WorkflowState",
    "backoff_ms",
    "is_step_executing",
    "list_attempts",
    "list_messages",
    "load_attempt",
    "load_history",
    "location_path",
    "plan_replay",
    "replay_from_step",
    "resolve_path",
    "run_workflow",
    "send_message",
]
