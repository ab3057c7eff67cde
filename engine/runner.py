"""``WorkflowRunner``: the long-lived handle a host keeps per workflow.

The runner owns one background task that runs the workflow, then waits for
whichever comes first: the persisted wake time (a sleep, a retry backoff, a
queue timeout) or an explicit wake (a sent message, a replay). Because the
wake time lives in the workflow record, a runner started in a fresh process
resumes a sleeping workflow on time (ARCHITECTURE.md, ``actorscope.engine``).

Typical host code (the server keeps one per actor)::

    runner = WorkflowRunner(actor_id, workflow_fn, initial_input, driver,
                            env=actor, on_history_updated=push_history)
    await runner.start()
    await runner.send("approval", {"ok": True})
    snapshot = await runner.replay(entry_id)     # may raise ReplayInFlight etc.
    await runner.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .checkpoints import StateCheckpoints
from .clock import Clock, SystemClock
from .driver import Driver
from .errors import StateCheckpointsDisabled
from .execution import active_execution, drop_store, is_step_executing
from .executor import TERMINAL_STATES, RunResult, WorkflowFn, load_history, run_once
from .model import WorkflowState
from .queue import QueueMessage, list_messages, send_message
from .replay import (
    DEFAULT_KEEP_ATTEMPTS,
    ReplayApplied,
    ReplayCommitted,
    ReplayPrepare,
    rewind,
)
from .snapshot import HistorySnapshot
from .store import HistoryListener, HistoryStore

__all__ = ["WorkflowRunner"]

_log = logging.getLogger(__name__)

# Minimum spacing of history notifications from one runner (seconds).
NOTIFY_INTERVAL = 0.02


class WorkflowRunner:
    """Runs one workflow durably for as long as the host lives.

    Attributes:
        last_result: how the latest run ended (``None`` before the first).
        last_error: an exception a run raised (a determinism error, say);
            the runner keeps waiting for a wake (e.g. a replay) after one,
            unless ``retry_after`` gives it a delay (a storage error the
            host knows to be passing: the run is tried again, as a restart
            would, from the persisted history).
    """

    def __init__(
        self,
        workflow_id: str,
        fn: WorkflowFn,
        input: Any,
        driver: Driver,
        *,
        on_history_updated: HistoryListener | None = None,
        clock: Clock | None = None,
        env: Any = None,
        keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
        state_checkpoints: StateCheckpoints | None = None,
        retry_after: Callable[[BaseException], float | None] | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.retry_after = retry_after
        self.state_checkpoints = state_checkpoints
        self.fn = fn
        self.input = input
        self.driver = driver
        self.on_history_updated = on_history_updated
        self.clock: Clock = clock or SystemClock()
        self.env = env
        self.keep_attempts = keep_attempts
        self.last_result: RunResult | None = None
        self.last_error: BaseException | None = None
        self._state = WorkflowState.PENDING
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._dirty: HistoryStore | None = None
        self._notify_handle: asyncio.TimerHandle | None = None
        self._last_notify = 0.0

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Start the background task (runs now, then on every wake or alarm)."""
        if self._task is not None and not self._task.done():
            return
        snapshot = await load_history(self.driver, self.workflow_id)
        self._state = snapshot.workflow.state
        self._idle.clear()
        self._wake.set()
        self._task = asyncio.create_task(self._main(), name=f"workflow {self.workflow_id}")

    async def stop(self) -> None:
        """Stop the background task; a step callback in flight is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._notify_handle is not None:
            self._notify_handle.cancel()
            self._notify_handle = None
        execution = active_execution(self.workflow_id, self.driver)
        if execution is not None:
            execution.stop_requested = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        drop_store(self.workflow_id, self.driver)

    async def idle(self) -> None:
        """Wait until the runner has nothing to do until woken.

        That is: no run in progress, no wake pending and no alarm set (the
        workflow completed, failed, or waits for a queue message only).
        """
        await self._idle.wait()

    def wake(self) -> None:
        """Ask for a run now (also done by ``send`` and ``replay``)."""
        self._idle.clear()
        self._wake.set()

    # -- what the host asks --------------------------------------------------

    @property
    def state(self) -> WorkflowState:
        """The workflow state as of the latest run or history write."""
        return self._state

    @property
    def is_executing_step(self) -> bool:
        """Whether a step (or rollback) callback executes right now."""
        return is_step_executing(self.workflow_id, self.driver)

    @property
    def running(self) -> bool:
        """Whether the background task is alive."""
        return self._task is not None and not self._task.done()

    async def history(self) -> HistorySnapshot:
        """The persisted history."""
        return await load_history(self.driver, self.workflow_id)

    async def send(self, name: str, value: Any) -> QueueMessage:
        """Enqueue a message (kept FIFO per name until taken) and wake the workflow."""
        async with self._send_lock:
            message = await send_message(self.driver, name, value, clock=self.clock)
        self.wake()
        return message

    async def queue_messages(self) -> list[QueueMessage]:
        """Messages sent but not yet taken by ``ctx.queue.next``, oldest first."""
        return await list_messages(self.driver)

    async def replay(self, entry_id: str | None = None) -> HistorySnapshot:
        """``replay_from_step`` then wake the workflow; returns the rewound snapshot.

        Raises:
            StepNotFound, ReplayTargetNotStep, ReplayInFlight: nothing changed.
        """
        return (await self.rewind(entry_id)).snapshot

    async def rewind(
        self,
        entry_id: str | None = None,
        *,
        path: str | None = None,
        restore_state: bool = False,
        prepare: ReplayPrepare | None = None,
        committed: ReplayCommitted | None = None,
    ) -> ReplayApplied:
        """The engine's ``rewind`` (plan inside the lock, host ops in its batch), then wake.

        Raises:
            StateCheckpointsDisabled: ``restore_state`` without ``state_checkpoints``.
            StepNotFound, ReplayTargetNotStep, ReplayInFlight,
            StateCheckpointUnavailable: nothing changed.
        """
        if restore_state and self.state_checkpoints is None:
            raise StateCheckpointsDisabled(self.workflow_id)
        try:
            applied = await rewind(
                self.workflow_id,
                self.driver,
                entry_id,
                path=path,
                restore_state=restore_state,
                prepare=prepare,
                committed=committed,
                clock=self.clock,
                keep_attempts=self.keep_attempts,
            )
        finally:
            # Even a refused replay may have stopped a live run (at an
            # operation boundary) before the target was checked: resume it.
            self.wake()
        # Anything not yet notified predates the rewind: drop it.
        self._dirty = None
        self._on_history(applied.snapshot)
        return applied

    # -- the background task ---------------------------------------------------

    def _on_history(self, snapshot: HistorySnapshot) -> None:
        self._state = snapshot.workflow.state
        if self.on_history_updated is not None:
            self.on_history_updated(snapshot)

    def _history_written(self, store: HistoryStore) -> None:
        """Coalesce notifications: one snapshot per burst of writes.

        Building a snapshot is O(history); doing it per write would make a
        long workflow quadratic. Writes that happen without yielding to the
        event loop share one notification, and notifications are spaced at
        least ``NOTIFY_INTERVAL`` apart; the last write is always delivered.
        """
        self._dirty = store
        if self._notify_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last_notify + NOTIFY_INTERVAL - loop.time())
        self._notify_handle = loop.call_later(delay, self._deliver)

    def _deliver(self) -> None:
        if self._notify_handle is not None:
            self._notify_handle.cancel()
            self._notify_handle = None
        store, self._dirty = self._dirty, None
        if store is None:
            return
        self._last_notify = asyncio.get_running_loop().time()
        self._on_history(store.snapshot())

    async def _main(self) -> None:
        wake_at: int | None = None
        while True:
            await self._wait(wake_at)
            self._wake.clear()
            try:
                result = await run_once(
                    self.workflow_id,
                    self.fn,
                    self.input,
                    self.driver,
                    clock=self.clock,
                    env=self.env,
                    listener=self._history_written,
                    checkpoints=self.state_checkpoints,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.exception("workflow %s: run raised", self.workflow_id)
                self._deliver()
                self.last_error = exc
                delay = None if self.retry_after is None else self.retry_after(exc)
                wake_at = None if delay is None else self.clock.now_ms() + round(delay * 1000)
                continue
            self._deliver()
            self.last_error = None
            self.last_result = result
            if result.state is not WorkflowState.RUNNING:
                self._state = result.state
            wake_at = result.wake_at if result.state not in TERMINAL_STATES else None

    async def _wait(self, wake_at: int | None) -> None:
        """Return on a wake, or at ``wake_at`` (epoch ms) if given."""
        if self._wake.is_set():
            return
        if wake_at is None:
            self._idle.set()
        waiter = asyncio.ensure_future(self._wake.wait())
        timer = None
        if wake_at is not None:
            delay = (wake_at - self.clock.now_ms()) / 1000
            timer = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            await asyncio.wait(
                [t for t in (waiter, timer) if t is not None], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (waiter, timer):
                if task is not None and not task.done():
                    task.cancel()
            self._idle.clear()
