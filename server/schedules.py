"""Actor schedules: run one of an actor's actions later, once, every interval, or on cron.

``ctx.schedule`` (a :class:`~.schedule_api.ScheduleApi`) is what actions
and workflow steps use::

    ctx.schedule.at(when, "remind", user)           # once, at a time
    ctx.schedule.after(30, "remind", user)          # once, in 30 s
    ctx.schedule.every(5, "tick", name="ticker")    # every 5 s
    ctx.schedule.cron("0 9 * * MON", "report", tz="Europe/Berlin", name="weekly")
    ctx.schedule.cancel(schedule_id)

Each call returns the schedule id (docs/PROTOCOL.md §9.3): a one-shot's id is
a fresh event id and it has no name; a recurring schedule's id *is* its name
(generated when none is given; scheduling an existing name replaces that
schedule and keeps its fire history). ``max_history`` bounds the fires kept.

:class:`ActorSchedules` runs them for one actor. What users can rely on:

* **Durable.** Schedules and fires are in the server's SQLite file
  (``schedule_store.py``), or a cluster's PostgreSQL database
  (``pg_schedule_store.py``), committed before the scheduling call returns.
  In a cluster every write is fenced by the node's lease of the actor, and
  the node that takes an actor over starts its schedules as a restart does.
* **Missed runs fire once.** A schedule that came due while the server was
  down fires once when it is back, then continues from the current time
  (an interval stays on its grid), never once per missed run.
* **One-shots are at-most-once.** A fire is recorded as ``running`` and a
  one-shot marked finished in one commit *before* the action is called. If
  the process dies during the action, the restart closes that fire as
  ``error`` (``schedule.interrupted``) and does not call the action again:
  whether the action completed is unknown, and running it twice is the
  worse failure. A recurring schedule's next run was already advanced in
  the same commit, so it simply fires at its next time.
* **Fires** record ``{action, scheduledAt, firedAt, finishedAt, result,
  error}`` with ``result`` one of ``running``, ``ok``, ``error``, ``skipped``:
  ``skipped`` when the action no longer exists or the schedule's previous
  fire is still running.
* A fire calls the action like any caller does (``transport="schedule"``):
  one action at a time per actor, a span per call, the state saved after.
* The inspector sees ``SchedulesChanged`` whenever a schedule is created,
  fires, or is deleted.

Inside a workflow step, scheduling is as at-least-once as the step itself:
prefer a recurring schedule with a ``name`` (re-running the step then
replaces it instead of adding one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from . import errors
from .inspector_api import (
    InspectorEvent,
    ScheduleErrorInfo,
    ScheduleFireInfo,
    ScheduleInfo,
    SchedulesChanged,
)
from .schedule_store import FireRecord, ScheduleRecord, ScheduleStorage
from .schedule_timing import next_cron, next_every
from .store import pack, unpack

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "KINDS",
    "MAX_HISTORY_LIMIT",
    "ActorSchedules",
    "ScheduleHost",
    "ScheduleSource",
]

log = logging.getLogger("actorscope.server")

#: The schedule kinds (docs/PROTOCOL.md §9.3).
KINDS = ("at", "every", "cron")
#: Fires kept per schedule when the schedule does not say.
DEFAULT_MAX_HISTORY = 100
#: The most fires a schedule may keep, and the most one history request returns.
MAX_HISTORY_LIMIT = 1000
#: Finished one-shots (and their single fire) kept per actor for the inspector.
FINISHED_ONE_SHOTS_KEPT = 100
#: How long closing the actor waits for fires in progress before cancelling them.
CLOSE_GRACE_SECONDS = 5.0
# The timer re-checks at least this often, so a wall-clock jump is noticed.
_MAX_SLEEP_SECONDS = 30.0
_MAX_NAME = 200
# After a fire could not be recorded (a store error), try again this much later.
_RETRY_MS = 1000

_INTERRUPTED = {
    "group": "schedule",
    "code": "interrupted",
    "message": "the server stopped while this fire was running; it is not run again",
    "metadata": None,
}


class ScheduleHost(Protocol):
    """What the scheduler needs of its actor (``ActorInstance``)."""

    @property
    def actor_id(self) -> str: ...

    def has_action(self, name: str) -> bool: ...

    async def invoke(self, name: str, args: list[Any], *, transport: str) -> Any: ...

    def emit(self, event: InspectorEvent) -> None: ...


class ScheduleSource(Protocol):
    """Where the schedule store comes from (``ActorStore``: the SQLite file, or the cluster's)."""

    def acquire_schedules(self) -> ScheduleStorage: ...

    def release_schedules(self) -> None: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.InspectorError):
        return {"group": exc.group, "code": exc.code, "message": exc.message, "metadata": None}
    text = f"{type(exc).__name__}: {exc}"
    return {"group": "schedule", "code": "failed", "message": text, "metadata": None}


def _info(record: ScheduleRecord) -> ScheduleInfo:
    assert record.next_run_at is not None
    return ScheduleInfo(
        id=record.id,
        name=record.name,
        kind=record.kind,
        action=record.action,
        args=list(unpack(record.args)),
        next_run_at_ms=record.next_run_at,
        last_run_at_ms=record.last_run_at,
        expression=record.expression,
        timezone=record.timezone,
        interval_ms=record.interval_ms,
        max_history=record.max_history,
    )


def _fire_info(fire: FireRecord) -> ScheduleFireInfo:
    error = None
    if fire.error is not None:
        error = ScheduleErrorInfo(
            str(fire.error.get("group", "")),
            str(fire.error.get("code", "")),
            str(fire.error.get("message", "")),
            fire.error.get("metadata"),
        )
    return ScheduleFireInfo(
        fire.action, fire.scheduled_at, fire.fired_at, fire.finished_at, fire.result, error
    )


class ActorSchedules:
    """The schedules of one actor: the store rows, a timer task, fires in progress."""

    def __init__(
        self,
        host: ScheduleHost,
        source: ScheduleSource,
        *,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._host = host
        self._source: ScheduleSource | None = source
        self._store = source.acquire_schedules()
        self._clock = clock
        self._records: dict[str, ScheduleRecord] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._closed = False

    # lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Close fires a crash left running, load the schedules, start the timer."""
        actor_id = self._host.actor_id
        interrupted = self._store.fail_running(
            actor_id, finished_at=self._clock(), error=_INTERRUPTED
        )
        if interrupted:
            log.warning(
                "actor %s: %d schedule fire(s) were interrupted by a stop; not run again",
                actor_id,
                interrupted,
            )
        self._records = {r.id: r for r in self._store.load(actor_id)}
        self._timer = asyncio.get_running_loop().create_task(self._run_timer())

    async def close(self) -> None:
        """Stop the timer; let fires in progress finish (bounded), else mark them interrupted."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        running = list(self._running.values())
        if running:
            _done, pending = await asyncio.wait(running, timeout=CLOSE_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        source, self._source = self._source, None
        if source is not None:
            source.release_schedules()

    # creating and cancelling ----------------------------------------------------

    def create(
        self,
        kind: str,
        action: str,
        args: list[Any],
        *,
        name: str | None,
        next_run_at: int,
        expression: str | None = None,
        timezone: str | None = None,
        interval_ms: int | None = None,
        max_history: int | None = None,
    ) -> str:
        """Store a new schedule (or replace the recurring one of that name); returns its id."""
        if not self._host.has_action(action):
            raise ValueError(f"cannot schedule unknown action {action!r}")
        try:
            raw_args = pack(list(args))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"schedule arguments are not serializable: {exc}") from exc
        keep = DEFAULT_MAX_HISTORY if max_history is None else max_history
        if isinstance(keep, bool) or not isinstance(keep, int) or not 0 < keep <= MAX_HISTORY_LIMIT:
            raise ValueError(f"max_history must be an integer from 1 to {MAX_HISTORY_LIMIT}")
        if kind == "at":
            schedule_id = uuid.uuid4().hex
        else:
            if name is None:
                name = f"{kind}-{uuid.uuid4().hex[:12]}"
            if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
                raise ValueError(f"a schedule name must be a string of 1 to {_MAX_NAME} characters")
            existing = self._records.get(name)
            if existing is not None and existing.kind == "at":
                raise ValueError(f"schedule id {name!r} belongs to a one-shot schedule")
            schedule_id = name
        record = ScheduleRecord(
            actor_id=self._host.actor_id,
            id=schedule_id,
            name=None if kind == "at" else name,
            kind=kind,
            action=action,
            args=raw_args,
            next_run_at=max(next_run_at, 0),
            last_run_at=None,
            expression=expression,
            timezone=timezone,
            interval_ms=interval_ms,
            max_history=keep,
            created_at=self._clock(),
        )
        self._store.put(record)
        self._records[schedule_id] = record
        self._changed()
        return schedule_id

    def cancel(self, schedule_id: str, kind: str | None = None) -> bool:
        """Delete a schedule (and its fire history); ``False`` when none matches."""
        record = self._records.get(schedule_id)
        if record is None or (kind is not None and record.kind != kind):
            return False
        self._store.delete(record.actor_id, schedule_id)
        del self._records[schedule_id]
        self._changed()
        return True

    # inspector façade -----------------------------------------------------------

    def schedules(self) -> list[ScheduleInfo]:
        """Pending schedules, sorted by next run, then id (docs/PROTOCOL.md §9.3)."""
        return [_info(r) for r in self._pending()]

    def history(self, schedule_id: str, limit: int) -> list[ScheduleFireInfo]:
        """The newest ``limit`` (clamped to 1-1000) fires, oldest first."""
        if schedule_id not in self._records:
            raise errors.schedule_not_found(schedule_id)
        limit = min(max(limit, 1), MAX_HISTORY_LIMIT)
        fires = self._store.history(self._host.actor_id, schedule_id, limit)
        return [_fire_info(f) for f in fires]

    def delete(self, schedule_id: str, kind: str) -> bool:
        """The inspector's delete: ``kind`` must be one of :data:`KINDS`."""
        if kind not in KINDS:
            raise errors.invalid_request(
                f"invalid schedule kind {kind!r}; one of {', '.join(KINDS)}"
            )
        return self.cancel(schedule_id, kind)

    def exists(self, schedule_id: str) -> bool:
        """Whether a schedule of that id is known (pending, or a one-shot that fired)."""
        return schedule_id in self._records

    def now_ms(self) -> int:
        """The scheduler's clock (epoch milliseconds)."""
        return self._clock()

    def _changed(self) -> None:
        self._host.emit(SchedulesChanged(self.schedules()))
        self._wake.set()

    # firing ---------------------------------------------------------------------

    async def _run_timer(self) -> None:
        while not self._closed:
            self._wake.clear()
            now = self._clock()
            for record in self._pending():
                assert record.next_run_at is not None
                if record.next_run_at > now:
                    break
                try:
                    self._fire(record, now)
                except errors.OwnershipLost as exc:
                    # Another node owns the actor now and fires its schedules;
                    # this one is dropped here in a moment.
                    log.warning("actor %s: schedule %s not fired here: %s", *_ids(record), exc)
                    retry = attrs.evolve(record, next_run_at=now + _RETRY_MS)
                    self._records[record.id] = retry
                except Exception:
                    # A store failure must not stop the timer of every other schedule.
                    log.exception("actor %s: schedule %s did not fire", *_ids(record))
                    retry = attrs.evolve(record, next_run_at=now + _RETRY_MS)
                    self._records[record.id] = retry
            delay = _MAX_SLEEP_SECONDS
            upcoming = self._pending()
            if upcoming:
                assert upcoming[0].next_run_at is not None
                delay = min(max((upcoming[0].next_run_at - self._clock()) / 1000, 0.0), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _pending(self) -> list[ScheduleRecord]:
        pending = [r for r in self._records.values() if r.next_run_at is not None]
        pending.sort(key=lambda r: (r.next_run_at, r.id))
        return pending

    def _advance(self, record: ScheduleRecord, now: int) -> int | None:
        """The next run after a fire due at ``record.next_run_at`` (``None``: finished)."""
        assert record.next_run_at is not None
        if record.kind == "every":
            assert record.interval_ms is not None
            return next_every(record.next_run_at, record.interval_ms, now)
        if record.kind == "cron":
            assert record.expression is not None and record.timezone is not None
            try:
                return next_cron(record.expression, record.timezone, now)
            except ValueError:
                log.exception("actor %s: cron schedule %s has no next run", *_ids(record))
                return None
        return None

    def _fire(self, record: ScheduleRecord, now: int) -> None:
        """Record the fire and the advance in one commit, then run the action in a task."""
        assert record.next_run_at is not None
        advanced = attrs.evolve(record, next_run_at=self._advance(record, now), last_run_at=now)
        skip: dict[str, Any] | None = None
        if not self._host.has_action(record.action):
            skip = dict(errors.action_not_found(record.action).to_json(), metadata=None)
        elif record.id in self._running:
            skip = {
                "group": "schedule",
                "code": "overlap",
                "message": "the previous fire of this schedule was still running",
                "metadata": None,
            }
        fire = FireRecord(
            seq=0,
            action=record.action,
            scheduled_at=record.next_run_at,
            fired_at=now,
            finished_at=now if skip is not None else None,
            result="skipped" if skip is not None else "running",
            error=skip,
        )
        seq = self._store.begin_fire(advanced, fire)
        self._records[record.id] = advanced
        if advanced.next_run_at is None:
            self._store.prune_finished(record.actor_id, FINISHED_ONE_SHOTS_KEPT)
            self._records = {r.id: r for r in self._store.load(record.actor_id)}
        self._host.emit(SchedulesChanged(self.schedules()))
        if skip is None:
            task = asyncio.get_running_loop().create_task(self._execute(advanced, seq))
            self._running[record.id] = task
            task.add_done_callback(self._fire_done(record.id))

    def _fire_done(self, schedule_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(schedule_id, None)

        return done

    async def _execute(self, record: ScheduleRecord, seq: int) -> None:
        result, error = "ok", None
        try:
            await self._host.invoke(record.action, list(unpack(record.args)), transport="schedule")
        except asyncio.CancelledError:
            result, error = "error", _INTERRUPTED
            raise
        except Exception as exc:
            result, error = "error", _error_of(exc)
        finally:
            try:
                self._store.finish_fire(
                    record.actor_id,
                    record.id,
                    seq,
                    finished_at=self._clock(),
                    result=result,
                    error=error,
                )
            except errors.OwnershipLost as exc:
                log.warning("actor %s: schedule fire not recorded here: %s", record.actor_id, exc)
            except Exception:
                log.exception("actor %s: could not record a schedule fire", record.actor_id)


def _ids(record: ScheduleRecord) -> tuple[str, str]:
    return record.actor_id, record.id
