"""Time for the engine: wall-clock milliseconds and waiting, injectable.

Everything durable is stamped with ``Clock.now_ms()`` (epoch milliseconds,
PROTOCOL.md §4), and the runner waits for alarms with ``Clock.sleep``. Tests
pass a :class:`ManualClock` so retries and sleeps need no real waiting.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where the engine reads the time and waits."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return early only if the time has passed)."""
        ...


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to; ``sleep`` jumps the time forward.

    ``sleep`` advances the clock by the requested duration and yields once,
    so a runner waiting for an alarm wakes at once with the clock at the
    alarm time.
    """

    def __init__(self, now_ms: int = 1_767_225_600_000) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds``."""
        self.now += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)
