"""Retry policy for steps (ENGINE.md "Failure, retry, sleep").

A failed attempt makes the workflow sleep until the retry; the delay grows
exponentially from ``DEFAULT_RETRY_BASE`` and is capped at
``DEFAULT_RETRY_CAP``. After ``max_retries`` retries the step is EXHAUSTED.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_RETRY_BASE", "DEFAULT_RETRY_CAP", "backoff_ms"]

# ENGINE.md "Failure, retry, sleep": defaults 3 retries, 100 ms base, 30 s cap.
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_BASE = 0.1
DEFAULT_RETRY_CAP = 30.0


def backoff_ms(
    attempts: int, base: float = DEFAULT_RETRY_BASE, cap: float = DEFAULT_RETRY_CAP
) -> int:
    """Delay before the retry that follows failed attempt number ``attempts``."""
    delay: float = min(cap, base * 2.0 ** max(0, attempts - 1))
    return round(delay * 1000)
