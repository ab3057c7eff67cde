"""The event loop ``actorscope serve`` runs on: uvloop where it installs, else asyncio's.

uvloop (libuv under asyncio's interface) makes every socket read, write and
wake-up cheaper, which is most of an inspector round trip's cost. It has no
wheels for every platform (Windows, some Pythons), so it is an optional
speed-up: without it the server runs unchanged on the standard loop.
``ACTORSCOPE_LOOP=asyncio`` forces the standard loop (to compare, or to rule
uvloop out when debugging).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["loop_name", "run"]

_T = TypeVar("_T")


def _uvloop() -> Any:
    if os.environ.get("ACTORSCOPE_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: what ``run`` will use."""
    return "asyncio" if _uvloop() is None else "uvloop"


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on uvloop when it is available."""
    uvloop = _uvloop()
    if uvloop is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
