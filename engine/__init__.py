"""actorscope.engine: durable workflows with a persisted history and replay-from-step.

This package's names are the workflow author's API, and nothing more: the
context a workflow receives, what a loop body returns, the errors a workflow
can meet, and ``run_workflow`` with the two drivers for running a workflow
without a server. The behaviour contract is ``docs/ENGINE.md``. Typical use::

    async def order(ctx: WorkflowContext, input: dict) -> dict:
        total = await ctx.step("charge", charge, rollback=refund)
        await ctx.sleep("cool-down", 2.0)
        return {"total": total}

    result = await run_workflow("wf-1", order, {"id": 7}, MemoryDriver())

The machinery the server drives (``WorkflowRunner``, history snapshots,
replay planning, the history model, the driver interface, attempts) lives in
the submodules (``runner``, ``snapshot``, ``replay``, ``model``, ``driver``,
``attempts``, ...) and is imported from there; it is not part of this API and
may change without notice.
"""

from .context import WorkflowContext
from .errors import DuplicateNameError, EngineError, HistoryDivergedError, StepExhausted
from .executor import RunResult, run_workflow
from .loops import Loop, LoopBreak, LoopContinue
from .memory_driver import MemoryDriver
from .sqlite_driver import SQLiteDriver

__all__ = [
    "DuplicateNameError",
    "EngineError",
    "HistoryDivergedError",
    "Loop",
    "LoopBreak",
    "LoopContinue",
    "MemoryDriver",
    "RunResult",
    "SQLiteDriver",
    "StepExhausted",
    "WorkflowContext",
    "run_workflow",
]
