"""Workflow history as an operator reads it: rows of a tree, and a diff.

Works on the JSON form of a ``WorkflowHistory`` (PROTOCOL.md §8: what
``GET /inspector/workflow-history`` answers, or ``history_json(h, codec)`` of
what the WebSocket client decoded), so the CLI and scripts share one view.

A location renders as a path of names with ``~N`` for loop iteration N
(ENGINE.md "Entries and where they live": ``outer/~2/inner``), the same
path ``POST /inspector/workflow/replay {"step": ...}`` accepts.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from actorscope.protocol.history import WorkflowHistory
    from actorscope.protocol.values import ValueCodec

__all__ = [
    "DiffLine",
    "HistoryRow",
    "diff_histories",
    "format_duration",
    "history_json",
    "history_rows",
    "location_path",
]

_KINDS = {
    "WorkflowStepEntry": "step",
    "WorkflowLoopEntry": "loop",
    "WorkflowSleepEntry": "sleep",
    "WorkflowMessageEntry": "message",
    "WorkflowRollbackCheckpointEntry": "checkpoint",
    "WorkflowJoinEntry": "join",
    "WorkflowRaceEntry": "race",
    "WorkflowRemovedEntry": "removed",
    "WorkflowVersionCheckEntry": "version",
}


def history_json(history: WorkflowHistory, codec: ValueCodec) -> dict[str, Any]:
    """The §8 JSON form of a decoded history, user values decoded with ``codec``.

    Bytes that do not decode become ``None``, as the server's §8 JSON does:
    a message entry still waiting for its message carries empty data.
    """
    from actorscope.protocol.jsonform import to_json

    def decode(data: bytes) -> Any:
        try:
            return codec.decode(data)
        except ValueError:
            return None

    out: dict[str, Any] = to_json(history, data=decode)
    return out


@attrs.frozen
class HistoryRow:
    """One entry, ready to print."""

    id: str
    path: str
    depth: int
    kind: str
    status: str
    attempts: int
    started_ms: int | None
    finished_ms: int | None
    error: str | None
    detail: str

    @property
    def duration_ms(self) -> int | None:
        if self.started_ms is None or self.finished_ms is None:
            return None
        return max(0, self.finished_ms - self.started_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "startedAt": self.started_ms,
            "finishedAt": self.finished_ms,
            "durationMs": self.duration_ms,
            "error": self.error,
            "detail": self.detail,
        }


def location_path(names: list[str], location: list[dict[str, Any]]) -> str:
    """``[Name(items), Marker(items, 1), Name(reserve-1)]`` → ``items/~1/reserve-1``.

    The same spelling as the engine's ``format_location``: a name containing
    ``/`` or ``%`` (or starting with ``~``) is percent-escaped so the path
    parses back unambiguously.
    """
    parts: list[str] = []
    for seg in location:
        val = seg.get("val")
        if seg.get("tag") == "WorkflowLoopIterationMarker" and isinstance(val, dict):
            parts.append(f"~{val.get('iteration')}")
        elif isinstance(val, int) and 0 <= val < len(names):
            parts.append(_escape(names[val]))
        else:
            parts.append(f"#{val}")
    return "/".join(parts)


def _escape(name: str) -> str:
    out = name.replace("%", "%25").replace("/", "%2F")
    return "%7E" + out[1:] if out.startswith("~") else out


def history_rows(history: dict[str, Any]) -> list[HistoryRow]:
    """The entries of a §8 JSON history, in history order, as rows."""
    names = list(history.get("nameRegistry") or [])
    meta = history.get("entryMetadata") or {}
    rows = []
    for entry in history.get("entries") or []:
        location = entry.get("location") or []
        md = meta.get(entry.get("id")) or {}
        kind = entry.get("kind") or {}
        rows.append(
            HistoryRow(
                id=str(entry.get("id")),
                path=location_path(names, location),
                depth=sum(1 for s in location if s.get("tag") != "WorkflowLoopIterationMarker") - 1,
                kind=_KINDS.get(kind.get("tag", ""), str(kind.get("tag"))),
                status=str(md.get("status") or "-"),
                attempts=int(md.get("attempts") or 0),
                started_ms=md.get("createdAt"),
                finished_ms=md.get("completedAt"),
                error=md.get("error") or _kind_error(kind),
                detail=_detail(kind),
            )
        )
    return rows


def _kind_error(kind: dict[str, Any]) -> str | None:
    val = kind.get("val")
    if kind.get("tag") == "WorkflowStepEntry" and isinstance(val, dict):
        err = val.get("error")
        return None if err is None else str(err)
    return None


def _detail(kind: dict[str, Any]) -> str:
    tag, val = kind.get("tag"), kind.get("val")
    if not isinstance(val, dict):
        return ""
    match tag:
        case "WorkflowStepEntry":
            return "" if val.get("output") is None else f"→ {_short(val['output'])}"
        case "WorkflowLoopEntry":
            return f"iteration {val.get('iteration')}"
        case "WorkflowSleepEntry":
            return f"until {format_time(val.get('deadline'))} ({val.get('state')})"
        case "WorkflowMessageEntry":
            return f"{val.get('name')}: {_short(val.get('messageData'))}"
        case "WorkflowRaceEntry":
            return f"winner {val.get('winner')}"
        case "WorkflowJoinEntry":
            branches = val.get("branches") or {}
            return ", ".join(f"{b}={s.get('status')}" for b, s in sorted(branches.items()))
        case "WorkflowRemovedEntry":
            return f"was {val.get('originalType')} {val.get('originalName') or ''}".rstrip()
        case "WorkflowVersionCheckEntry":
            return f"v{val.get('resolved')} (latest {val.get('latest')})"
    return ""


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = json.dumps(value, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_time(ms: Any) -> str:
    """Epoch milliseconds → ``HH:MM:SS.mmm`` (UTC); ``-`` when absent."""
    if not isinstance(ms, int):
        return "-"
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%H:%M:%S.") + f"{ms % 1000:03d}"


def format_duration(ms: int | None) -> str:
    """``7ms``, ``1.25s``, ``2m03s``; ``-`` when unknown."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f}s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m{seconds:02d}s"


@attrs.frozen
class DiffLine:
    """How one path differs between an archived attempt and the current history.

    ``change`` is one of ``re-run`` (the path ran again: a new entry), ``kept``
    (the same entry in both), ``not-re-run`` (archived, not reached again yet)
    or ``new`` (only in the current history).
    """

    path: str
    change: str
    kind: str
    old_status: str | None
    new_status: str | None
    output_changed: bool
    old_output: Any
    new_output: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.change,
            "kind": self.kind,
            "oldStatus": self.old_status,
            "newStatus": self.new_status,
            "outputChanged": self.output_changed,
            "oldOutput": self.old_output,
            "newOutput": self.new_output,
        }


def _outputs(history: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in history.get("entries") or []:
        kind = entry.get("kind") or {}
        val = kind.get("val")
        if isinstance(val, dict):
            out[str(entry.get("id"))] = val.get("output", val.get("messageData"))
    return out


def diff_histories(
    attempt: dict[str, Any], current: dict[str, Any], replayed_at: int | None = None
) -> list[DiffLine]:
    """Compare an archived attempt with the current history, path by path.

    An archived attempt holds the entries its replay discarded (ENGINE.md
    "Replay from a step" step 4), so entries pair up by location path (stable
    across runs): a path in both ran again (``re-run``; a path with the same
    entry id in both was ``kept``); an archived path absent now was
    ``not-re-run`` yet. A current path the attempt does not have is ``new``
    when it was created at or after ``replayed_at`` (the replay's time), and
    left out otherwise: it precedes the boundary and was never discarded.
    """
    old_rows = {r.path: r for r in history_rows(attempt)}
    new_rows = {r.path: r for r in history_rows(current)}
    old_out, new_out = _outputs(attempt), _outputs(current)
    lines = []
    for path, old in old_rows.items():
        new = new_rows.get(path)
        if new is None:
            lines.append(
                DiffLine(
                    path, "not-re-run", old.kind, old.status, None, False, old_out.get(old.id), None
                )
            )
            continue
        a, b = old_out.get(old.id), new_out.get(new.id)
        change = "kept" if new.id == old.id else "re-run"
        lines.append(DiffLine(path, change, new.kind, old.status, new.status, a != b, a, b))
    for path, new in new_rows.items():
        if path in old_rows:
            continue
        if replayed_at is not None and (new.started_ms is None or new.started_ms < replayed_at):
            continue
        lines.append(
            DiffLine(path, "new", new.kind, None, new.status, False, None, new_out.get(new.id))
        )
    return lines
