"""Plain-text rendering for terminals: the history tree, tables, diffs, replay
plans and the replay audit.

Colour is opt-in per call (``Style(color=True)``): the CLI turns it on only
when stdout is a terminal and ``NO_COLOR`` is unset (https://no-color.org),
so piped output never carries escape codes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import attrs

from .history_view import DiffLine, HistoryRow, format_duration, format_time

__all__ = [
    "Style",
    "format_when",
    "render_diff",
    "render_history",
    "render_plan",
    "render_replays",
    "render_state_diff",
    "render_table",
    "schema_tables",
    "style_for",
    "to_text",
]

_CODES = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1", "cyan": "36"}
_STATUS_COLOURS = {
    "COMPLETED": "green",
    "RUNNING": "yellow",
    "PENDING": "yellow",
    "FAILED": "red",
    "EXHAUSTED": "red",
}


@attrs.frozen
class Style:
    """Whether to emit ANSI colour codes."""

    color: bool = False

    def paint(self, text: str, colour: str) -> str:
        if not self.color or colour not in _CODES:
            return text
        return f"\x1b[{_CODES[colour]}m{text}\x1b[0m"


def style_for(stream: TextIO) -> Style:
    """Colour only on a terminal, never when ``NO_COLOR`` is set or ``TERM=dumb``."""
    isatty = getattr(stream, "isatty", None)
    on_tty = bool(isatty and isatty())
    no_color = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    return Style(color=on_tty and not no_color)


def to_text(value: Any) -> str:
    """A user value as compact JSON (``repr`` for what JSON cannot hold)."""
    return json.dumps(value, default=repr, ensure_ascii=False)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    style: Style,
    paint_row: Callable[[str, int], str] | None = None,
) -> str:
    """Left-aligned columns; the header in bold.

    ``paint_row(line, i)`` colours the aligned line of ``rows[i]`` when
    ``style`` has colour: colouring after aligning keeps escape codes from
    skewing the column widths.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = [style.paint(_join(headers, widths), "bold")]
    if paint_row is not None and style.color:
        lines.extend(paint_row(_join(row, widths), i) for i, row in enumerate(rows))
    else:
        lines.extend(_join(row, widths) for row in rows)
    return "\n".join(lines)


def _join(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


def render_history(rows: Sequence[HistoryRow], style: Style) -> str:
    """The workflow as an indented tree, one entry per line.

    Columns: path (indented by nesting), kind, status, attempts, started,
    finished, duration, then the error or a short detail (output, iteration).
    """
    if not rows:
        return "(no entries)"
    headers = ["PATH", "KIND", "STATUS", "ATT", "STARTED", "FINISHED", "DURATION", "DETAIL"]
    cells = []
    for r in rows:
        cells.append(
            [
                "  " * max(0, r.depth) + r.path,
                r.kind,
                r.status,
                str(r.attempts),
                format_time(r.started_ms),
                format_time(r.finished_ms),
                format_duration(r.duration_ms),
                f"error: {r.error}" if r.error else r.detail,
            ]
        )

    def paint(line: str, i: int) -> str:
        r = rows[i]
        line = line.replace(r.status, style.paint(r.status, _STATUS_COLOURS.get(r.status, "")), 1)
        if r.error:
            line = line.replace(f"error: {r.error}", style.paint(f"error: {r.error}", "red"), 1)
        return line

    return render_table(headers, cells, style, paint)


_CHANGE_COLOURS = {"re-run": "yellow", "not-re-run": "red", "new": "green", "kept": "dim"}


def render_diff(lines: Sequence[DiffLine], attempt: int, style: Style) -> str:
    """What differs between archived attempt ``attempt`` and the current history."""
    if not lines:
        return f"attempt {attempt} and the current history have no entries"
    rows = []
    for d in lines:
        if d.change == "re-run":
            out = (
                f"output changed: {to_text(d.old_output)} → {to_text(d.new_output)}"
                if d.output_changed
                else "same output"
            )
        elif d.change == "not-re-run":
            out = "not reached again yet"
        elif d.change == "new":
            out = "only in the current history"
        else:
            out = "unchanged"
        rows.append([d.change, d.path, d.kind, d.old_status or "-", d.new_status or "-", out])
    headers = ["CHANGE", "PATH", "KIND", f"ATTEMPT {attempt}", "CURRENT", "OUTPUT"]

    def paint(line: str, i: int) -> str:
        return style.paint(line, _CHANGE_COLOURS.get(lines[i].change, ""))

    return render_table(headers, rows, style, paint)


def format_when(ms: Any) -> str:
    """Epoch milliseconds → ``YYYY-MM-DD HH:MM:SSZ``; ``-`` when absent."""
    if not isinstance(ms, int):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def render_plan(plan: dict[str, Any], style: Style) -> str:
    """A replay plan (the HTTP API's dry-run answer): target, boundary, what is discarded."""
    boundary = plan.get("boundary")
    discard = plan.get("discard") or []
    target = plan.get("target")
    lines = []
    if target is None:
        lines.append("replay from the start: the whole workflow runs again")
    else:
        lines.append(f"target: {target.get('path')} ({target.get('entryId')})")
    if boundary is not None:
        lines.append(
            f"rewind boundary: {boundary.get('path')} ({boundary.get('kind')}, "
            f"{boundary.get('entryId')})"
        )
    lines.append(f"{len(discard)} entr{'y' if len(discard) == 1 else 'ies'} will be discarded:")
    rows = [[d.get("path", ""), d.get("kind", ""), d.get("status", "")] for d in discard]
    if rows:
        lines.append(render_table(["PATH", "KIND", "STATUS"], rows, style))
    if isinstance(plan.get("state"), dict):
        lines.append(render_state_diff(plan["state"], style))
    return "\n".join(lines)


def render_replays(records: Sequence[dict[str, Any]], style: Style) -> str:
    """The replay audit (``GET /inspector/workflow/replays``), newest first."""
    if not records:
        return "no replays recorded"
    rows = []
    for r in records:
        target = r.get("target") or {}
        outcome = str(r.get("result", ""))
        if r.get("refusal"):
            outcome += f" ({r['refusal'].get('code')})"
        if (r.get("count") or 1) > 1:
            outcome += f" x{r['count']}, last {format_when(r.get('lastAt'))}"
        rows.append(
            [
                str(r.get("seq", "")),
                format_when(r.get("at")),
                str(r.get("transport")),
                str(r.get("credential")),
                target.get("step") or target.get("entryId") or "(start)",
                str(r.get("discarded")),
                outcome,
                "-" if r.get("attempt") is None else str(r["attempt"]),
                "restored" if r.get("stateRestored") else "-",
                r.get("reason") or "",
            ]
        )
    headers = ["SEQ", "WHEN", "TRANSPORT", "CREDENTIAL", "TARGET", "DISCARDED", "RESULT"]
    return render_table([*headers, "ATTEMPT", "STATE", "REASON"], rows, style)


def render_state_diff(state: dict[str, Any], style: Style) -> str:
    """The state change a replay with ``restoreState`` would apply (a dry run's ``state``)."""
    diff = state.get("diff") or []
    if not diff:
        return "state: unchanged by the restore"
    lines = [f"state: {len(diff)} change{'' if len(diff) == 1 else 's'} on restore:"]
    marks = {"add": ("+", "green"), "remove": ("-", "red"), "replace": ("~", "yellow")}
    for change in diff:
        mark, colour = marks.get(change.get("op", ""), ("?", "dim"))
        where = "/".join(str(p) for p in change.get("path") or []) or "(whole state)"
        if change.get("op") == "replace":
            text = f"{to_text(change.get('from'))} -> {to_text(change.get('to'))}"
        elif change.get("op") == "add":
            text = to_text(change.get("to"))
        else:
            text = to_text(change.get("from"))
        lines.append(style.paint(f"  {mark} {where}: {text}", colour))
    return "\n".join(lines)


def schema_tables(schema: Any) -> list[list[str]]:
    """``[name, columns, rows]`` per table of a database schema.

    The server answers ``{"tables": [{"table": {"name"}, "columns": [...],
    "records": n}]}``; plainer shapes (a list of names) are accepted too.
    """
    tables = schema.get("tables", []) if isinstance(schema, dict) else schema
    out = []
    for t in tables if isinstance(tables, list) else []:
        if not isinstance(t, dict):
            out.append([str(t), "", ""])
            continue
        head = t.get("table")
        name = head.get("name") if isinstance(head, dict) else t.get("name", head)
        columns = ", ".join(
            f"{c.get('name')} {c.get('type', '')}".rstrip()
            for c in t.get("columns") or []
            if isinstance(c, dict)
        )
        records = t.get("records")
        out.append([str(name), columns, "" if records is None else str(records)])
    return out
