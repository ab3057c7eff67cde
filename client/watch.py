"""A live view of one actor: its state and workflow tree, redrawn as pushes arrive.

What ``actorscope inspect watch`` runs. ``Init`` gives the first frame; every
``StateUpdated`` / ``WorkflowHistoryUpdated`` (and any other push) draws the
next one. On a terminal the screen is cleared between frames; piped, frames
are appended (or one JSON object per line with ``as_json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, TextIO

from .connection import InspectorClient
from .errors import InspectorTimeout
from .history_view import history_json, history_rows
from .models import HistoryUpdate, InitView, Push, StateUpdate
from .render import Style, render_history, to_text

__all__ = ["watch"]

_CLEAR = "\x1b[2J\x1b[H"


async def watch(
    client: InspectorClient,
    *,
    out: TextIO,
    style: Style,
    count: int | None = None,
    timeout: float | None = None,
    as_json: bool = False,
    redraw: bool = False,
) -> int:
    """Connect, draw a frame per push; return the number of updates seen.

    Stops after ``count`` updates (``Init`` not counted) or ``timeout``
    seconds, whichever comes first; otherwise runs until the connection
    closes (``InspectorConnectionClosed`` propagates).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    state: Any = None
    history: Any = None
    updates = 0
    async with client:
        async for push in _pushes_until(client, deadline):
            match push:
                case InitView():
                    state, history = push.state, push.workflow_history
                case StateUpdate():
                    state = push.state
                    updates += 1
                case HistoryUpdate():
                    history = push.history
                    updates += 1
                case _:
                    updates += 1
            frame = _frame(client, state, history, style, as_json)
            out.write((_CLEAR if redraw else "") + frame + "\n")
            out.flush()
            if count is not None and updates >= count:
                break
    return updates


async def _pushes_until(client: InspectorClient, deadline: float | None) -> AsyncIterator[Push]:
    while True:
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return
        try:
            yield await client.next_push(timeout=wait if wait is not None else 3600.0)
        except InspectorTimeout:
            if deadline is None:
                continue
            return


def _frame(client: InspectorClient, state: Any, history: Any, style: Style, as_json: bool) -> str:
    hist = None if history is None else history_json(history, client.codec)
    if as_json:
        return json.dumps({"state": state, "history": hist}, default=repr)
    lines = [style.paint(f"actor {client.actor_id}  {time.strftime('%H:%M:%S')}", "bold")]
    lines.append(f"state: {to_text(state)}")
    if hist is not None:
        lines.append(render_history(history_rows(hist), style))
    lines.append("")
    return "\n".join(lines)
