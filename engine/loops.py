"""What a loop body returns: ``Loop.continue_(state)`` or ``Loop.break_(value)``."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Loop", "LoopBreak", "LoopContinue"]


@attrs.frozen
class LoopContinue:
    state: Any


@attrs.frozen
class LoopBreak:
    value: Any


class Loop:
    """What a loop ``run`` callback returns."""

    @staticmethod
    def continue_(state: Any = None) -> LoopContinue:
        """Run another iteration with ``state``."""
        return LoopContinue(state)

    @staticmethod
    def break_(value: Any = None) -> LoopBreak:
        """End the loop; ``ctx.loop`` returns ``value``."""
        return LoopBreak(value)
