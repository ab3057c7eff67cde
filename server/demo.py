"""The demo actors ``actorscope serve --demo`` runs (and the tests use).

* ``counter`` — state ``{"count": 0}``; ``increment(n=1)`` (broadcasts
  ``count``), ``get_count()``.
* ``order`` — a workflow: step ``validate``; loop ``items`` running step
  ``reserve-{i}`` for 3 items; step ``charge``; sleep ``cool-down`` (2 s);
  wait for the queue message ``approval``; step ``ship``. Every step appends
  its name to the state's ``timeline``, so a replay's re-run shows from
  outside. ``get_timeline()``.
* ``steps`` — steps ``one``, ``two``, ``three`` appending to ``timeline``,
  then a one-hour sleep ``rest`` (so it stays alive and replayable);
  ``get_timeline()``.
* ``inventory`` — its own SQLite database with a table ``items`` (a few
  rows); ``add_item(name, qty)``.
* ``heartbeat`` — state ``{"beats": 0, "style": None}``; a workflow whose
  step ``start`` schedules the action ``beat`` every 3 s (schedule
  ``heartbeat``), then a version check ``beat-style`` (``latest=2``) picks
  the step ``announce-v2`` (or ``announce-v1`` for a run that predates the
  check), then a one-hour sleep ``rest``. ``beat()`` counts and broadcasts
  ``beat``; ``get_beats()``.

Every demo step takes ~50 ms of (simulated) work.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from actorscope.engine import Loop, WorkflowContext

from .definitions import ActorContext, ActorDefinition, Registry

__all__ = ["DEMO_KEY", "demo_registry"]

#: The key of the demo instances ``serve --demo`` creates.
DEMO_KEY = "demo"

ORDER_ITEMS = 3
COOL_DOWN_SECONDS = 2.0
REST_SECONDS = 3600.0
STEP_WORK_SECONDS = 0.05
HEARTBEAT_SECONDS = 3.0


def _increment(ctx: ActorContext, n: int = 1) -> int:
    ctx.state["count"] += n
    ctx.broadcast("count", ctx.state["count"])
    count: int = ctx.state["count"]
    return count


def _get_count(ctx: ActorContext) -> int:
    count: int = ctx.state["count"]
    return count


def _get_timeline(ctx: ActorContext) -> list[str]:
    return list(ctx.state["timeline"])


async def _mark(actor: ActorContext, name: str) -> str:
    """A step body: some work, then the step's name in the timeline.

    The state is saved before the step completes, so the timeline never
    misses a recorded step. The short pause stands for the step's work; it
    also lets a watcher see each step land as its own history update (the
    engine coalesces notifications of writes that come back to back).
    """
    await asyncio.sleep(STEP_WORK_SECONDS)
    actor.state["timeline"].append(name)
    await actor.save_state()
    return name


async def _order(wf: WorkflowContext, actor: ActorContext) -> str:
    await wf.step("validate", lambda: _mark(actor, "validate"))

    async def reserve(it: WorkflowContext, i: int) -> Any:
        if i >= ORDER_ITEMS:
            return Loop.break_(i)
        await it.step(f"reserve-{i}", lambda: _mark(actor, f"reserve-{i}"))
        return Loop.continue_(i + 1)

    await wf.loop("items", 0, reserve)
    await wf.step("charge", lambda: _mark(actor, "charge"))
    await wf.sleep("cool-down", COOL_DOWN_SECONDS)
    approval = await wf.queue.next("approval")
    await wf.step("ship", lambda: _mark(actor, "ship"))
    return f"shipped ({approval!r})"


async def _steps(wf: WorkflowContext, actor: ActorContext) -> None:
    for name in ("one", "two", "three"):
        await wf.step(name, lambda name=name: _mark(actor, name))  # type: ignore[misc]
    await wf.sleep("rest", REST_SECONDS)


def _inventory_schema(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL)"
    )
    db.executemany(
        "INSERT INTO items (name, qty) VALUES (?, ?)", [("apple", 12), ("pear", 5), ("plum", 30)]
    )


def _add_item(ctx: ActorContext, name: str, qty: int) -> int:
    cursor = ctx.db.execute("INSERT INTO items (name, qty) VALUES (?, ?)", (name, qty))
    row_id = cursor.lastrowid
    assert row_id is not None
    return row_id


def _beat(ctx: ActorContext) -> int:
    ctx.state["beats"] += 1
    beats: int = ctx.state["beats"]
    ctx.broadcast("beat", beats)
    return beats


def _get_beats(ctx: ActorContext) -> int:
    beats: int = ctx.state["beats"]
    return beats


async def _heartbeat(wf: WorkflowContext, actor: ActorContext) -> None:
    # A named recurring schedule: re-running the step replaces it, never doubles it.
    await wf.step(
        "start", lambda: actor.schedule.every(HEARTBEAT_SECONDS, "beat", name="heartbeat")
    )
    # A version check (tag 8 on the wire): runs recorded before it keep v1.
    style = await wf.version("beat-style", latest=2)

    def announce() -> int:
        actor.state["style"] = style
        return style

    await wf.step(f"announce-v{style}", announce)
    await wf.sleep("rest", REST_SECONDS)


def demo_registry() -> Registry:
    """A fresh registry of the five demo actor types."""
    return Registry(
        [
            ActorDefinition(
                "counter", {"count": 0}, {"increment": _increment, "get_count": _get_count}
            ),
            ActorDefinition("order", {"timeline": []}, {"get_timeline": _get_timeline}, _order),
            ActorDefinition("steps", {"timeline": []}, {"get_timeline": _get_timeline}, _steps),
            ActorDefinition("inventory", None, {"add_item": _add_item}, database=_inventory_schema),
            ActorDefinition(
                "heartbeat",
                {"beats": 0, "style": None},
                {"beat": _beat, "get_beats": _get_beats},
                _heartbeat,
            ),
        ]
    )
