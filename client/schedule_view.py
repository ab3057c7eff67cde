"""Actor schedules and their fires as table rows (``actorscope inspect schedules``).

Reads the HTTP API's JSON (docs/PROTOCOL.md §9.8): ``schedules`` from
``GET /inspector/schedules``, ``history`` from ``GET
/inspector/schedules/{id}/history``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .render import format_when, to_text

__all__ = ["FIRE_HEADERS", "SCHEDULE_HEADERS", "fire_rows", "schedule_rows", "when_text"]

SCHEDULE_HEADERS = ("ID", "KIND", "WHEN", "ACTION", "ARGS", "NEXT RUN", "LAST RUN")
FIRE_HEADERS = ("SCHEDULED", "FIRED", "FINISHED", "RESULT", "ACTION", "ERROR")


def when_text(schedule: Mapping[str, Any]) -> str:
    """How a schedule recurs: ``once``, ``every 5s``, ``0 9 * * MON (Europe/Berlin)``."""
    kind = schedule.get("kind")
    if kind == "every" and isinstance(schedule.get("intervalMs"), int):
        seconds = schedule["intervalMs"] / 1000
        return f"every {seconds:g}s"
    if kind == "cron":
        zone = schedule.get("timezone")
        return f"{schedule.get('expression')}" + (f" ({zone})" if zone else "")
    return "once"


def schedule_rows(schedules: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            str(s.get("id")),
            str(s.get("kind")),
            when_text(s),
            str(s.get("action")),
            to_text(s.get("args")),
            format_when(s.get("nextRunAt")),
            format_when(s.get("lastRunAt")),
        ]
        for s in schedules
    ]


def fire_rows(history: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for fire in history:
        error = fire.get("error")
        text = ""
        if error:
            text = f"{error.get('group')}.{error.get('code')}: {error.get('message')}"
        rows.append(
            [
                format_when(fire.get("scheduledAt")),
                format_when(fire.get("firedAt")),
                format_when(fire.get("finishedAt")),
                str(fire.get("result")),
                str(fire.get("action")),
                text,
            ]
        )
    return rows
