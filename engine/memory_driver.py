"""An in-memory :class:`~.driver.Driver`, for tests and throwaway workflows.

Keys live in a dict plus a sorted key list, so ``list(prefix)`` and
``delete_prefix`` find their range with ``bisect`` instead of sorting the
whole store per call.  Nothing survives the process.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from .driver import (
    BatchOp,
    Delete,
    DeletePrefix,
    DeleteRange,
    Linked,
    Set,
    SetAlarm,
    check_ops,
    delete_bounds,
    prefix_successor,
)

__all__ = ["MemoryDriver"]


class MemoryDriver:
    """A driver holding one workflow's namespace in process memory."""

    __slots__ = ("_alarm", "_keys", "_values")

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        # Sorted by key bytes; Python's bytes ordering is unsigned
        # lexicographic, the order ENGINE.md "Storage" asks ``list`` for.
        self._keys: list[bytes] = []
        self._alarm: int | None = None

    async def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    async def set(self, key: bytes, value: bytes) -> None:
        (op,) = check_ops((Set(key, value),))
        self._apply(op)

    async def delete(self, key: bytes) -> None:
        (op,) = check_ops((Delete(key),))
        self._apply(op)

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        lo, hi = self._range(prefix)
        values = self._values
        return [(key, values[key]) for key in self._keys[lo:hi]]

    async def delete_prefix(self, prefix: bytes) -> None:
        (op,) = check_ops((DeletePrefix(prefix),))
        self._apply(op)

    async def batch(self, ops: Iterable[BatchOp]) -> None:
        # Every op is checked before the first is applied; applying a checked
        # op cannot fail, so the batch is all or nothing. Linked ops may name
        # any other MemoryDriver: memory is one store, and nothing awaits.
        checked = check_ops(ops)
        for op in checked:
            if type(op) is Linked and not isinstance(op.driver, MemoryDriver):
                raise ValueError(f"cannot link {op.driver!r} into a MemoryDriver batch")
        for op in checked:
            if type(op) is Linked:
                for inner in op.ops:
                    op.driver._apply(inner)
            else:
                self._apply(op)

    async def set_alarm(self, at_ms: int) -> None:
        await self.batch((SetAlarm(int(at_ms)),))

    async def clear_alarm(self) -> None:
        await self.batch((SetAlarm(None),))

    async def get_alarm(self) -> int | None:
        return self._alarm

    def _range(self, prefix: bytes) -> tuple[int, int]:
        return self._span(prefix, prefix_successor(prefix))

    def _span(self, start: bytes, end: bytes | None) -> tuple[int, int]:
        keys = self._keys
        lo = bisect.bisect_left(keys, start)
        hi = len(keys) if end is None else max(lo, bisect.bisect_left(keys, end, lo))
        return lo, hi

    def _apply(self, op: BatchOp) -> None:
        match op:
            case Set(key=key, value=value):
                if key not in self._values:
                    bisect.insort(self._keys, key)
                self._values[key] = value
            case Delete(key=key):
                if self._values.pop(key, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, key)]
            case DeletePrefix() | DeleteRange():
                lo, hi = self._span(*delete_bounds(op))
                for key in self._keys[lo:hi]:
                    del self._values[key]
                del self._keys[lo:hi]
            case SetAlarm(at_ms=at_ms):
                self._alarm = at_ms
