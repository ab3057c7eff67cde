"""``ctx.schedule``: what actions and workflow steps schedule with.

A thin user-facing layer over :class:`~.schedules.ActorSchedules`, which
holds the rules (ids, durability, missed runs, at-most-once one-shots; see
``schedules.py``). This module only turns the calls users write (``at``,
``after``, ``every``, ``cron``, ``cancel``) into schedule records.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .inspector_api import ScheduleInfo
from .schedule_timing import MIN_INTERVAL_MS, check_cron, epoch_ms, next_cron

if TYPE_CHECKING:
    from .schedules import ActorSchedules

__all__ = ["ScheduleApi"]


class ScheduleApi:
    """``ctx.schedule``: schedule this actor's actions (rules in ``schedules.py``)."""

    __slots__ = ("_schedules",)

    def __init__(self, schedules: ActorSchedules) -> None:
        self._schedules = schedules

    def at(
        self, when: datetime | float, action: str, *args: Any, max_history: int | None = None
    ) -> str:
        """Run ``action(*args)`` once at ``when`` (an aware datetime or epoch seconds)."""
        return self._schedules.create(
            "at", action, list(args), name=None, next_run_at=epoch_ms(when), max_history=max_history
        )

    def after(self, seconds: float, action: str, *args: Any, max_history: int | None = None) -> str:
        """Run ``action(*args)`` once, ``seconds`` from now."""
        delay = _seconds(seconds, "after", minimum_ms=0)
        return self._schedules.create(
            "at",
            action,
            list(args),
            name=None,
            next_run_at=self._schedules.now_ms() + delay,
            max_history=max_history,
        )

    def every(
        self,
        seconds: float,
        action: str,
        *args: Any,
        name: str | None = None,
        max_history: int | None = None,
    ) -> str:
        """Run ``action(*args)`` every ``seconds``, the first time one interval from now."""
        interval = _seconds(seconds, "every", minimum_ms=MIN_INTERVAL_MS)
        return self._schedules.create(
            "every",
            action,
            list(args),
            name=name,
            next_run_at=self._schedules.now_ms() + interval,
            interval_ms=interval,
            max_history=max_history,
        )

    def cron(
        self,
        expression: str,
        action: str,
        *args: Any,
        tz: str = "UTC",
        name: str | None = None,
        max_history: int | None = None,
    ) -> str:
        """Run ``action(*args)`` on a cron ``expression`` evaluated in time zone ``tz``."""
        check_cron(expression, tz)
        return self._schedules.create(
            "cron",
            action,
            list(args),
            name=name,
            next_run_at=next_cron(expression, tz, self._schedules.now_ms()),
            expression=expression,
            timezone=tz,
            max_history=max_history,
        )

    def cancel(self, schedule_id: str) -> bool:
        """Cancel a schedule of any kind; ``False`` when there is none of that id."""
        return self._schedules.cancel(schedule_id)

    def list(self) -> list[ScheduleInfo]:
        """The pending schedules, soonest first."""
        return self._schedules.schedules()


def _seconds(value: float, what: str, *, minimum_ms: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}() takes a number of seconds, got {value!r}")
    ms = round(value * 1000)
    if ms < minimum_ms:
        raise ValueError(f"{what}() needs at least {minimum_ms / 1000} s, got {value!r}")
    return ms
