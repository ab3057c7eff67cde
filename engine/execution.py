"""Per-run executor state, the control-flow signals, and the in-process registry.

* :class:`Execution` is what one run of a workflow carries around: the live
  history, the clock, which locations this run has visited (name reuse and
  determinism checks), the rollback callbacks the code registered, and which
  step callbacks are executing right now.
* :class:`Suspend` unwinds a run that must wait (a sleep, a retry backoff, a
  queue message): the run ends with state SLEEPING (ENGINE.md "Failure,
  retry, sleep"). :class:`Stopped` unwinds a run asked to stop at the next
  operation boundary (a replay or ``WorkflowRunner.stop``). Both derive from
  ``BaseException`` so a workflow's ``except Exception`` cannot swallow them.
  :class:`Uncharted` ends a rollback-discovery walk where the recorded
  history ends.
* The registry maps (workflow id, driver) to the active run so that
  ``replay_from_step`` can refuse while a callback executes (ENGINE.md replay
  rule 5) and otherwise stop the live run before rewinding.
* The history cache keeps recently used :class:`HistoryStore` objects so a
  wake-up or a replay does not re-read the whole history; a store is reused
  only while the driver still holds the version token it wrote last.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .checkpoints import StateCheckpoints
from .clock import Clock
from .driver import Driver
from .errors import WorkflowBusy
from .model import Location
from .paths import format_location
from .store import HistoryStore

__all__ = [
    "Execution",
    "Slot",
    "SlotTimeout",
    "Stopped",
    "Suspend",
    "Uncharted",
    "active_execution",
    "claim",
    "clear_cache",
    "describe_error",
    "drop_store",
    "is_step_executing",
    "keep_store",
    "open_store",
]


class Suspend(BaseException):
    """The run must wait until ``wake_at`` (epoch ms; ``None``: until a message)."""

    def __init__(self, wake_at: int | None) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at

    @classmethod
    def earliest(cls, suspends: Iterable[Suspend]) -> Suspend:
        times = [s.wake_at for s in suspends if s.wake_at is not None]
        return cls(min(times) if times else None)


class Uncharted(BaseException):
    """Rollback discovery reached the end of the recorded history."""


class SlotTimeout(Exception):
    """A workflow's slot stayed busy longer than the caller would wait."""


class Stopped(BaseException):
    """The run was asked to stop before its next durable operation."""


def describe_error(exc: BaseException) -> str:
    """The error text recorded in history for an exception."""
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Execution:
    """The state of one run of one workflow."""

    def __init__(
        self,
        workflow_id: str,
        store: HistoryStore,
        clock: Clock,
        env: Any = None,
        checkpoints: StateCheckpoints | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.checkpoints = checkpoints
        self.store = store
        self.clock = clock
        self.env = env
        self.visited: set[Location] = set()
        self.cursors: dict[Location, int] = {}
        self.rollbacks: dict[Location, Callable[[Any], Any]] = {}
        self.executing: set[Location] = set()
        self.stop_requested = False
        # Rollback discovery: re-walk the recorded history (every loop from
        # its first iteration, every branch) only to learn which rollback
        # callbacks the code attaches; never runs a callback, never writes.
        self.discovering = False

    def checkpoint(self) -> None:
        """Stage a state checkpoint (when the host opted in) with the next batch."""
        if self.checkpoints is not None and not self.discovering:
            self.store.stage_checkpoint(self.checkpoints.capture, self.checkpoints.keep)

    def check_stop(self) -> None:
        if self.stop_requested:
            raise Stopped()

    def path(self, location: Location) -> str:
        return format_location(self.store.names, location)

    def executing_paths(self) -> list[str]:
        return [self.path(loc) for loc in self.executing]


@attrs.define
class Slot:
    """The registry's record for one (workflow id, driver) pair."""

    driver: Driver
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    running: bool = False
    execution: Execution | None = None
    users: int = 0


_SLOTS: dict[tuple[str, int], Slot] = {}


def active_execution(workflow_id: str, driver: Driver) -> Execution | None:
    """The run of this workflow active in this process, if any."""
    slot = _SLOTS.get((workflow_id, id(driver)))
    return None if slot is None else slot.execution


def is_step_executing(workflow_id: str, driver: Driver) -> bool:
    """Whether a step (or rollback) callback of this workflow executes right now."""
    execution = active_execution(workflow_id, driver)
    return execution is not None and bool(execution.executing)


def claim(workflow_id: str, driver: Driver, *, run: bool, timeout: float | None = None) -> Claim:
    """Hold the workflow's slot: runs and replays of one workflow never overlap.

    ``async with claim(...) as slot``. Entering raises:
        WorkflowBusy: ``run`` is true and another run is active.
        SlotTimeout: the slot stayed busy for ``timeout`` seconds.
    """
    return Claim(workflow_id, driver, run, timeout)


class Claim:
    """The ``async with`` of :func:`claim` (a class: every replay and wake-up enters one,
    and a generator-based context manager costs several calls more)."""

    __slots__ = ("_driver", "_key", "_run", "_slot", "_timeout", "_workflow_id")

    def __init__(self, workflow_id: str, driver: Driver, run: bool, timeout: float | None) -> None:
        self._workflow_id = workflow_id
        self._driver = driver
        self._run = run
        self._timeout = timeout
        self._key = (workflow_id, id(driver))
        self._slot: Slot | None = None

    async def __aenter__(self) -> Slot:
        key = self._key
        slot = _SLOTS.get(key)
        if slot is None:
            slot = _SLOTS[key] = Slot(self._driver)
        if self._run and slot.running:
            raise WorkflowBusy(self._workflow_id)
        slot.users += 1
        try:
            if slot.users == 1:
                # Nobody else holds or waits for the slot (the common case),
                # so the acquire cannot suspend: no timer needs arming.
                await slot.lock.acquire()
            else:
                try:
                    # asyncio.timeout, not wait_for: wait_for wraps the
                    # acquire in a task, a trip round the event loop.
                    async with asyncio.timeout(self._timeout):
                        await slot.lock.acquire()
                except TimeoutError:
                    raise SlotTimeout(self._workflow_id) from None
            if self._run:
                if slot.running:
                    slot.lock.release()
                    raise WorkflowBusy(self._workflow_id)
                slot.running = True
        except BaseException:
            self._leave(slot)
            raise
        self._slot = slot
        return slot

    async def __aexit__(self, *exc_info: object) -> None:
        slot = self._slot
        assert slot is not None
        self._slot = None
        if self._run:
            slot.running = False
            slot.execution = None
        slot.lock.release()
        self._leave(slot)

    def _leave(self, slot: Slot) -> None:
        slot.users -= 1
        if slot.users == 0 and _SLOTS.get(self._key) is slot:
            del _SLOTS[self._key]


# Recently used histories, so a wake-up or a replay does not re-read and
# re-decode the whole history (the store checks the driver's version token
# before it is reused, so a history changed elsewhere is reloaded).
_CACHE: OrderedDict[tuple[str, int], HistoryStore] = OrderedDict()
CACHE_SIZE = 32


async def open_store(workflow_id: str, driver: Driver) -> HistoryStore:
    """The workflow's history: the cached store if still current, else a fresh load."""
    store = _CACHE.pop((workflow_id, id(driver)), None)
    if store is not None and store.driver is driver and await store.refresh():
        return store
    return await HistoryStore.load(driver)


def keep_store(workflow_id: str, store: HistoryStore) -> None:
    """Cache a store whose writes are all flushed, for the next run or replay."""
    if store.pending:
        return
    store.listeners = []
    key = (workflow_id, id(store.driver))
    _CACHE[key] = store
    _CACHE.move_to_end(key)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)


def drop_store(workflow_id: str, driver: Driver) -> None:
    """Forget the cached history of a workflow (its host is going away)."""
    _CACHE.pop((workflow_id, id(driver)), None)


def clear_cache() -> None:
    """Forget every cached history (tests use it to force fresh loads)."""
    _CACHE.clear()
