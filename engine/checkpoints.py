"""State checkpoints: the host's state as it was when each step finished.

A host that opts in (``WorkflowRunner(..., state_checkpoints=StateCheckpoints(
capture))``) hands the engine a ``capture()`` returning its state encoded as
bytes (the server: the actor's state, MessagePack). The engine then keeps,
with the history and in the same batch as the step's completion:

* checkpoint **0**, the state when the workflow first ran;
* after every completed step, the state at that moment, numbered with the
  entry counter at that moment (``c/<n>``: the state once every entry with a
  creation sequence number below ``n`` existed). A checkpoint equal to the
  one before it is not stored again.

Restoring for a replay whose boundary has sequence number ``B`` takes the
checkpoint with the greatest number ``<= B``: the state as it was just
before the boundary entry was recorded (checkpoint 0 when nothing before it
changed the state). Checkpoints numbered above ``B`` describe discarded
entries and are deleted by the rewind (same batch).

Bounded: at most ``keep`` checkpoints besides checkpoint 0 (default 100,
never evicted); the oldest go first, and ``k/cfl`` keeps the range of the
numbers evicted, so a restore that would need an evicted checkpoint is
refused (``StateCheckpointUnavailable``) instead of restoring a wrong state.
A capture that raises stores an empty checkpoint, which refuses a restore to
that point the same way.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable

import attrs

from . import codec
from .driver import BatchOp, Delete, Driver, Reads, Set
from .errors import StateCheckpointUnavailable

__all__ = [
    "DEFAULT_KEEP_CHECKPOINTS",
    "CheckpointIndex",
    "StateCheckpoints",
    "read_checkpoint",
]

#: Checkpoints kept per workflow besides the initial one.
DEFAULT_KEEP_CHECKPOINTS = 100

# A capture that failed: "the state at this point is unknown".
_UNKNOWN = b""

_log = logging.getLogger(__name__)


def _positive(_instance: object, _attribute: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"state checkpoints: keep must be at least 1, got {value}")


@attrs.frozen
class StateCheckpoints:
    """A host's opt-in to state checkpoints.

    Attributes:
        capture: returns the host state now, encoded (called after each step
            completes, synchronously, before the step's batch is written).
        keep: checkpoints kept besides the initial one.
    """

    capture: Callable[[], bytes]
    keep: int = attrs.field(default=DEFAULT_KEEP_CHECKPOINTS, validator=_positive)


class CheckpointIndex:
    """Which checkpoints one workflow's history holds (numbers only; values stay on disk).

    ``evicted`` is ``(lo, hi)``: every checkpoint evicted from the kept part
    of the history is numbered within it (kept ones other than 0 are all
    above ``hi``, so a restore is refused only when an evicted one could lie
    between the checkpoint found and the boundary).
    """

    __slots__ = ("evicted", "last", "numbers")

    def __init__(self) -> None:
        self.numbers: list[int] = []
        # The value of the newest checkpoint, when known (skips duplicates).
        self.last: bytes | None = None
        self.evicted: tuple[int, int] | None = None

    @classmethod
    async def load(cls, driver: Reads) -> CheckpointIndex:
        index = cls()
        rows = await driver.list(codec.CHECKPOINT)
        index.numbers = [codec.key_number(key, codec.CHECKPOINT) for key, _ in rows]
        index.last = rows[-1][1] if rows else None
        evicted = await driver.get(codec.CHECKPOINT_FLOOR)
        if evicted is not None:
            lo, hi = evicted.split()
            index.evicted = (int(lo), int(hi))
        return index

    def _evicted_op(self) -> BatchOp:
        if self.evicted is None:
            return Delete(codec.CHECKPOINT_FLOOR)
        lo, hi = self.evicted
        return Set(codec.CHECKPOINT_FLOOR, f"{lo} {hi}".encode())

    def stage(self, number: int, capture: Callable[[], bytes], keep: int) -> list[BatchOp]:
        """Ops recording the state now as checkpoint ``number`` (and evicting past ``keep``)."""
        try:
            value = capture()
            if type(value) is not bytes:
                raise TypeError(f"capture() must return bytes, got {type(value).__name__}")
        except Exception:
            _log.warning("state checkpoint %d: capture failed", number, exc_info=True)
            value = _UNKNOWN
        if value == self.last and value != _UNKNOWN and self.numbers:
            return []
        ops: list[BatchOp] = [Set(codec.int_key(codec.CHECKPOINT, number), value)]
        if not self.numbers or self.numbers[-1] != number:
            bisect.insort(self.numbers, number)
        self.last = value
        # Checkpoint 0 (the initial state) is never evicted; the rest go oldest first.
        first = 1 if self.numbers[0] == 0 else 0
        excess = len(self.numbers) - first - keep
        if excess > 0:
            gone = self.numbers[first : first + excess]
            del self.numbers[first : first + excess]
            ops.extend(Delete(codec.int_key(codec.CHECKPOINT, old)) for old in gone)
            lo, hi = self.evicted or (gone[0], gone[-1])
            self.evicted = (min(lo, gone[0]), max(hi, gone[-1]))
            ops.append(self._evicted_op())
        return ops

    def restore_point(self, boundary_seq: int | None, where: str) -> int:
        """The number of the checkpoint a rewind to ``boundary_seq`` restores.

        Raises:
            StateCheckpointUnavailable: it is not kept.
        """
        if boundary_seq is None:  # an empty history: the initial state
            boundary_seq = 0
        at = bisect.bisect_right(self.numbers, boundary_seq)
        if at == 0:
            raise StateCheckpointUnavailable(where, "no checkpoint was recorded before it")
        number = self.numbers[at - 1]
        if self.evicted is not None:
            lo, hi = self.evicted
            if max(lo, number + 1) <= min(hi, boundary_seq):
                raise StateCheckpointUnavailable(where, "its checkpoint was evicted")
        return number

    def discard_after(self, boundary_seq: int) -> list[BatchOp]:
        """Ops deleting the checkpoints of discarded entries (numbered above the boundary)."""
        at = bisect.bisect_right(self.numbers, boundary_seq)
        dropped, self.numbers = self.numbers[at:], self.numbers[:at]
        ops: list[BatchOp] = [Delete(codec.int_key(codec.CHECKPOINT, n)) for n in dropped]
        if dropped:
            self.last = None  # the newest kept value is not in memory
        if self.evicted is not None and self.evicted[1] > boundary_seq:
            # Evictions among the discarded entries no longer matter.
            lo = self.evicted[0]
            self.evicted = None if lo > boundary_seq else (lo, boundary_seq)
            ops.append(self._evicted_op())
        return ops


async def read_checkpoint(driver: Driver, number: int, where: str) -> bytes:
    """The stored value of checkpoint ``number``.

    Raises:
        StateCheckpointUnavailable: it is missing or its capture had failed.
    """
    value = await driver.get(codec.int_key(codec.CHECKPOINT, number))
    if not value:
        raise StateCheckpointUnavailable(where, "the state was not captured there")
    return value
