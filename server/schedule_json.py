"""Schedules and their fires in the HTTP API's JSON (docs/PROTOCOL.md §9.8).

The §9.3 ``Schedule`` and ``ScheduleFire`` fields, camelCase, with the
action arguments and error metadata as JSON (``null`` for what has no JSON
form, like every user value of the HTTP API).
"""

from __future__ import annotations

from typing import Any

from .inspector_api import ScheduleFireInfo, ScheduleInfo
from .jsonvalues import to_jsonable

__all__ = ["fire_to_json", "schedule_to_json"]


def schedule_to_json(info: ScheduleInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "kind": info.kind,
        "action": info.action,
        "args": to_jsonable(info.args),
        "nextRunAt": max(info.next_run_at_ms, 0),
        "lastRunAt": None if info.last_run_at_ms is None else max(info.last_run_at_ms, 0),
        "expression": info.expression,
        "timezone": info.timezone,
        "intervalMs": info.interval_ms,
        "maxHistory": info.max_history,
    }


def fire_to_json(fire: ScheduleFireInfo) -> dict[str, Any]:
    error = None
    if fire.error is not None:
        error = {
            "group": fire.error.group,
            "code": fire.error.code,
            "message": fire.error.message,
            "metadata": to_jsonable(fire.error.metadata),
        }
    return {
        "action": fire.action,
        "scheduledAt": fire.scheduled_at_ms,
        "firedAt": fire.fired_at_ms,
        "finishedAt": fire.finished_at_ms,
        "result": fire.result,
        "error": error,
    }
