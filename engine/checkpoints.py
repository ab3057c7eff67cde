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
checkpoint with the greatest number ``<= B`` — the state as it was just
before the boundary entry was recorded — or checkpoint 0 when the replay
keeps no entry at all. Checkpoints numbered above ``B`` describe discarded
entries and are deleted by the rewind (same batch).

Bounded: at most ``keep`` checkpoints besides checkpoint 0 (default 100); the
oldest go first, and ``k/cfl`` remembers the highest number evicted, so a
restore that would need an evicted checkpoint is refused
(``StateCheckpointUnavailable``) instead of restoring a wrong state. A
capture that raises stores an empty checkpoint, which refuses a restore to
that point the same way.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable

import attrs

from . import codec
from .driver import BatchOp, Delete, Driver, Set
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
    """Which checkpoints one workflow's history holds (numbers only; values stay on disk)."""

    __slots__ = ("floor", "last", "numbers")

    def __init__(self) -> None:
        self.numbers: list[int] = []
        # The value of the newest checkpoint, when known (skips duplicates).
        self.last: bytes | None = None
        self.floor: int | None = None

    @classmethod
    async def load(cls, driver: Driver) -> CheckpointIndex:
        index = cls()
        rows = await driver.list(codec.CHECKPOINT)
        index.numbers = [codec.key_number(key, codec.CHECKPOINT) for key, _ in rows]
        index.last = rows[-1][1] if rows else None
        floor = await driver.get(codec.CHECKPOINT_FLOOR)
        index.floor = None if floor is None else int(floor)
        return index

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
            evicted = self.numbers[first : first + excess]
            del self.numbers[first : first + excess]
            ops.extend(Delete(codec.int_key(codec.CHECKPOINT, old)) for old in evicted)
            self.floor = max(evicted[-1], self.floor or 0)
            ops.append(Set(codec.CHECKPOINT_FLOOR, str(self.floor).encode()))
        return ops

    def restore_point(self, boundary_seq: int | None, keeps_entries: bool, where: str) -> int:
        """The number of the checkpoint a rewind to ``boundary_seq`` restores.

        Raises:
            StateCheckpointUnavailable: it is not kept.
        """
        if boundary_seq is None or not keeps_entries:
            if self.numbers and self.numbers[0] == 0:
                return 0
            raise StateCheckpointUnavailable(where, "the initial state was not recorded")
        at = bisect.bisect_right(self.numbers, boundary_seq)
        if at == 0:
            raise StateCheckpointUnavailable(where, "no checkpoint was recorded before it")
        number = self.numbers[at - 1]
        if self.floor is not None and number <= self.floor:
            raise StateCheckpointUnavailable(where, "its checkpoint was evicted")
        return number

    def discard_after(self, boundary_seq: int) -> list[BatchOp]:
        """Ops deleting the checkpoints of discarded entries (numbered above the boundary)."""
        at = bisect.bisect_right(self.numbers, boundary_seq)
        dropped, self.numbers = self.numbers[at:], self.numbers[:at]
        if dropped:
            self.last = None  # the newest kept value is not in memory
        return [Delete(codec.int_key(codec.CHECKPOINT, n)) for n in dropped]


async def read_checkpoint(driver: Driver, number: int, where: str) -> bytes:
    """The stored value of checkpoint ``number``.

    Raises:
        StateCheckpointUnavailable: it is missing or its capture had failed.
    """
    value = await driver.get(codec.int_key(codec.CHECKPOINT, number))
    if not value:
        raise StateCheckpointUnavailable(where, "the state was not captured there")
    return value
