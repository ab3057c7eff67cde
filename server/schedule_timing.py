"""When a schedule runs next: one-shot times, fixed intervals, cron in a time zone.

Cron expressions are evaluated by ``cronsim`` (5 fields, or 6 with seconds
first), in the schedule's IANA time zone through ``zoneinfo``, so daylight
saving changes land where a wall clock in that zone would put them. Times
are epoch milliseconds throughout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

__all__ = [
    "MIN_INTERVAL_MS",
    "check_cron",
    "check_timezone",
    "epoch_ms",
    "next_cron",
    "next_every",
]

#: The shortest ``every`` interval; anything faster is a busy loop, not a schedule.
MIN_INTERVAL_MS = 10


def epoch_ms(when: datetime | float | int) -> int:
    """``when`` (an aware datetime, or epoch seconds) in epoch milliseconds.

    Raises:
        ValueError: a naive datetime (its zone would be a guess) or a
            value that is not a time.
    """
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("a schedule time must be timezone-aware (or epoch seconds)")
        return round(when.timestamp() * 1000)
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise ValueError(f"a schedule time must be a datetime or epoch seconds, got {when!r}")
    return round(when * 1000)


def check_timezone(tz: str) -> ZoneInfo:
    """The zone named ``tz``; raises ``ValueError`` for an unknown name."""
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"a time zone must be an IANA name such as 'Europe/Berlin', got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def check_cron(expression: str, tz: str) -> None:
    """Raise ``ValueError`` unless ``expression`` has a next run in ``tz``."""
    next_cron(expression, tz, 0)


def next_cron(expression: str, tz: str, after_ms: int) -> int:
    """The first run of ``expression`` in zone ``tz`` strictly after ``after_ms``.

    Raises:
        ValueError: a malformed expression, an unknown zone, or an
            expression that never matches (``0 0 30 2 *``).
    """
    if not isinstance(expression, str):
        raise ValueError(f"a cron expression must be a string, got {expression!r}")
    zone = check_timezone(tz)
    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC).astimezone(zone)
    try:
        upcoming = next(CronSim(expression, start))
    except CronSimError as exc:
        raise ValueError(f"bad cron expression {expression!r}: {exc}") from exc
    except StopIteration:
        raise ValueError(f"cron expression {expression!r} never matches") from None
    return round(upcoming.timestamp() * 1000)


def next_every(due_ms: int, interval_ms: int, now_ms: int) -> int:
    """The next slot on the grid ``due_ms + k * interval_ms`` after ``now_ms``.

    Staying on the grid keeps a schedule from drifting by the time each
    fire takes; a schedule that missed several slots (the server was down)
    skips them instead of firing once per slot.
    """
    if now_ms < due_ms:
        return due_ms + interval_ms
    return due_ms + ((now_ms - due_ms) // interval_ms + 1) * interval_ms
