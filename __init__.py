"""actorscope: durable actors and workflows with a live RivetKit-compatible inspector.

This module is everything ordinary use needs::

    import actorscope

    counter = actorscope.Actor("counter", state={"count": 0})

    @counter.action
    def increment(ctx: actorscope.ActorContext, n: int = 1) -> int:
        ctx.state["count"] += n
        return ctx.state["count"]

    registry = actorscope.Registry([counter])

then ``actorscope serve app:registry`` (or ``actorscope.serve(registry)``).

The names here are a thin layer over the machinery in ``actorscope.server``
and ``actorscope.engine`` (as ``temporalio.workflow`` is over its worker):
``Actor`` declares an actor type, ``ActorContext`` is what its actions and
steps see of it, ``WorkflowContext`` and ``Loop`` write its workflow,
``Registry`` holds the types a server runs, ``serve`` (blocking) and
``start_server`` (async, returns a ``RunningServer``) run one, and
``HistoryDivergedError`` and ``StepExhausted`` are the engine errors a
workflow author meets. They load on first use, so importing
``actorscope.protocol`` or ``actorscope.client`` does not start up the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import HistoryDivergedError, Loop, StepExhausted, WorkflowContext
    from .server.definitions import Actor, ActorContext, Registry
    from .server.embed import serve, start_server
    from .server.runner import RunningServer

__all__ = [
    "Actor",
    "ActorContext",
    "HistoryDivergedError",
    "Loop",
    "Registry",
    "RunningServer",
    "StepExhausted",
    "WorkflowContext",
    "__version__",
    "serve",
    "start_server",
]

__version__ = "0.1.0"

# Where each public name lives; imported on first access (PEP 562).
_HOMES = {
    "Actor": ".server.definitions",
    "ActorContext": ".server.definitions",
    "HistoryDivergedError": ".engine",
    "Loop": ".engine",
    "Registry": ".server.definitions",
    "RunningServer": ".server.runner",
    "StepExhausted": ".engine",
    "WorkflowContext": ".engine",
    "serve": ".server.embed",
    "start_server": ".server.embed",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'actorscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
