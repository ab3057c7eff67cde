"""The storage driver interface the engine writes its history through.

ENGINE.md "Storage": the engine talks to a per-workflow key-value driver with
``get``, ``set``, ``delete``, ``list(prefix)`` (sorted by key bytes),
``delete_prefix``, an atomic ``batch`` and one alarm per workflow.  One driver
instance is one workflow's namespace (ARCHITECTURE.md, ``actorscope.engine``).

Keys and values are ``bytes``.  The batch operations are small frozen
records (:class:`Set`, :class:`Delete`, :class:`DeletePrefix`,
:class:`DeleteRange`, and :class:`SetAlarm` for the workflow's alarm) so the engine
can build the whole write set of one operation and hand it over at once: a
crash at any instant must leave the history before or after that operation,
never half-written.

:class:`Linked` carries ops for *another* driver of the same store (another
namespace of the same SQLite file, say) into a batch, so that a host can make
its own record part of an engine write: a replay and its audit record, or a
rewind and the restored actor state, commit together or not at all. A driver
refuses (``ValueError``, before applying anything) a ``Linked`` driver it
cannot commit in the same transaction.

:func:`consistent_reads` gives reads that all see one committed state of a
namespace, for the engine's multi-read loads (a whole history). A driver
whose reads go over the network (PostgreSQL) yields to the event loop on
every read, so a write of the same process can commit between two reads;
such a driver offers ``snapshot()`` (:class:`SnapshotReads`). Drivers whose
reads never yield (memory, SQLite) are consistent as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeAlias, runtime_checkable

import attrs

__all__ = [
    "BatchOp",
    "Delete",
    "DeletePrefix",
    "DeleteRange",
    "Driver",
    "Linked",
    "Reads",
    "Set",
    "SetAlarm",
    "SnapshotReads",
    "check_ops",
    "consistent_reads",
    "delete_bounds",
    "prefix_successor",
]


@attrs.frozen
class Set:
    """Write ``value`` under ``key`` (replacing any previous value)."""

    key: bytes
    value: bytes


@attrs.frozen
class Delete:
    """Remove ``key``; removing a missing key is not an error."""

    key: bytes


@attrs.frozen
class DeletePrefix:
    """Remove every key that starts with ``prefix`` (``b""`` removes all)."""

    prefix: bytes


@attrs.frozen
class DeleteRange:
    """Remove every key ``k`` with ``start <= k < end`` (``end=None``: no upper bound).

    One op (one statement in SQL) where the engine drops the tail of a
    numbered family of keys, such as the entries a replay discards.
    """

    start: bytes
    end: bytes | None


@attrs.frozen
class SetAlarm:
    """Persist the workflow's wake-up time (epoch ms) in the batch; ``None`` removes it.

    The same as ``set_alarm``/``clear_alarm``, committed with the ops around
    it: a workflow record and the alarm that mirrors it are written together.
    """

    at_ms: int | None


KeyOp: TypeAlias = Set | Delete | DeletePrefix | DeleteRange


def _op_tuple(ops: Iterable[KeyOp]) -> tuple[KeyOp, ...]:
    return tuple(ops)


@attrs.frozen
class Linked:
    """Apply ``ops`` to ``driver`` in the same atomic batch as the ops around it.

    ``driver`` must share storage with the driver the batch is given to (see
    each driver); nested ``Linked`` ops are not allowed.
    """

    driver: Any
    ops: tuple[KeyOp, ...] = attrs.field(converter=_op_tuple)


BatchOp: TypeAlias = Set | Delete | DeletePrefix | DeleteRange | SetAlarm | Linked


@runtime_checkable
class Driver(Protocol):
    """One workflow's key-value namespace plus its alarm.

    Every method is a coroutine so that drivers backed by I/O fit the same
    shape as the in-memory one.  ``batch`` is atomic: either every op is
    applied or, if it raises, none is.
    """

    async def get(self, key: bytes) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""
        ...

    async def set(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        ...

    async def delete(self, key: bytes) -> None:
        """Remove ``key`` if present."""
        ...

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """Return ``(key, value)`` pairs whose key starts with ``prefix``,
        sorted by key bytes (unsigned, lexicographic)."""
        ...

    async def delete_prefix(self, prefix: bytes) -> None:
        """Remove every key starting with ``prefix``."""
        ...

    async def batch(self, ops: Iterable[BatchOp]) -> None:
        """Apply ``ops`` in order, atomically (all or nothing)."""
        ...

    async def set_alarm(self, at_ms: int) -> None:
        """Persist the workflow's wake-up time (epoch milliseconds)."""
        ...

    async def clear_alarm(self) -> None:
        """Remove the workflow's alarm, if any."""
        ...

    async def get_alarm(self) -> int | None:
        """Return the persisted alarm (epoch milliseconds), or ``None``."""
        ...


class Reads(Protocol):
    """The read half of a driver (``get`` and ``list`` as in :class:`Driver`)."""

    async def get(self, key: bytes) -> bytes | None: ...

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]: ...


@runtime_checkable
class SnapshotReads(Protocol):
    """A driver that can read several keys and ranges as of one committed state."""

    def snapshot(self) -> AbstractAsyncContextManager[Reads]:
        """Reads inside the ``async with`` see the namespace as of one instant."""
        ...


@asynccontextmanager
async def consistent_reads(driver: Driver) -> AsyncIterator[Reads]:
    """Reads of ``driver`` that all see the same committed state.

    The driver's own ``snapshot()`` when it has one; otherwise the driver
    itself, whose reads must then not yield between each other (memory, SQLite).
    """
    if isinstance(driver, SnapshotReads):
        async with driver.snapshot() as reads:
            yield reads
    else:
        yield driver


def check_ops(ops: Iterable[BatchOp]) -> tuple[BatchOp, ...]:
    """Materialize ``ops`` and check every op before any is applied.

    Drivers call this first so that a malformed op anywhere in a batch makes
    the whole batch fail without touching storage (atomicity).

    Raises:
        TypeError: an op is not a batch op, or a key/value is not ``bytes``.
    """
    checked = tuple(ops)
    for op in checked:
        # Exact type checks: this runs once per op of every step, so it stays
        # cheaper than structural pattern matching.
        if type(op) is Set:
            _check_bytes("key", op.key)
            _check_bytes("value", op.value)
        elif type(op) is Delete:
            _check_bytes("key", op.key)
        elif type(op) is DeletePrefix:
            _check_bytes("prefix", op.prefix)
        elif type(op) is DeleteRange:
            _check_bytes("start", op.start)
            if op.end is not None:
                _check_bytes("end", op.end)
        elif type(op) is SetAlarm:
            if op.at_ms is not None and type(op.at_ms) is not int:
                raise TypeError(f"an alarm is an int (epoch ms) or None, not {op.at_ms!r}")
        elif type(op) is Linked:
            for inner in op.ops:
                if not isinstance(inner, Set | Delete | DeletePrefix | DeleteRange):
                    raise TypeError(
                        f"a Linked op holds only Set/Delete/DeletePrefix/DeleteRange: {inner!r}"
                    )
            check_ops(op.ops)
        else:
            raise TypeError(f"not a batch op: {op!r}")
    return checked


def delete_bounds(op: DeletePrefix | DeleteRange) -> tuple[bytes, bytes | None]:
    """The keys ``op`` removes as ``[start, end)`` (``end=None``: no upper bound)."""
    if type(op) is DeletePrefix:
        return op.prefix, prefix_successor(op.prefix)
    assert type(op) is DeleteRange
    return op.start, op.end


def prefix_successor(prefix: bytes) -> bytes | None:
    """Return the smallest byte string greater than every key with ``prefix``.

    Trailing ``0xff`` bytes cannot be incremented, so they are dropped and the
    byte before them is incremented (``b"a\\xff" -> b"b"``).  Returns ``None``
    when there is no upper bound (empty prefix or all ``0xff``): the range is
    then open-ended.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def _check_bytes(what: str, value: object) -> None:
    # bytearray/memoryview would compare and hash differently from bytes in
    # the stores; insist on bytes so every driver behaves the same.
    if type(value) is not bytes:
        raise TypeError(f"batch {what} must be bytes, got {type(value).__name__}")
