"""The SQLite :class:`~.driver.Driver`: the embedded default store.

Many workflows share one database file; each :class:`SQLiteDriver` is one
namespace in it (ENGINE.md "Storage", ARCHITECTURE.md ``actorscope.engine``).

Layout::

    kv(ns TEXT, key BLOB, value BLOB, PRIMARY KEY (ns, key)) WITHOUT ROWID
    alarms(ns TEXT PRIMARY KEY, at_ms INTEGER)

SQLite compares BLOBs with ``memcmp`` then length, which is exactly Python's
``bytes`` order, so ``list(prefix)`` is one range scan on the primary key:
``key >= prefix AND key < successor(prefix)``.

Durability: the file is in WAL mode with ``synchronous=NORMAL``.  A commit
then returns once its frames are written to the WAL (handed to the OS), without
an fsync.  That survives a crash of the process (``kill -9``) with every
committed transaction intact and no partial one visible — the guarantee
ENGINE.md asks for — while an OS crash or power loss may roll back the last
few commits (never corrupt the file).  Skipping the per-commit fsync is what
makes thousands of durable steps per second possible; pass
``synchronous="FULL"`` to also survive power loss at the cost of one fsync per
batch.

Connections: all drivers for one file in one thread share a single
``sqlite3`` connection (a small reference-counted registry), so a server with
hundreds of workflows does not hold hundreds of connections.  Every call runs
synchronously on the caller's (event-loop) thread and never awaits in the
middle of a transaction, so transactions of different namespaces cannot
interleave.  Calls are short (microseconds), which is why they are not pushed
to a thread pool: the hop would cost more than the query.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Literal

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

__all__ = ["SQLiteDriver"]

Synchronous = Literal["NORMAL", "FULL"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv ("
    " ns TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
    " PRIMARY KEY (ns, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS alarms (ns TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
)

_GET = "SELECT value FROM kv WHERE ns = ? AND key = ?"
_SET = "INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)"
_DELETE = "DELETE FROM kv WHERE ns = ? AND key = ?"
_LIST_RANGE = "SELECT key, value FROM kv WHERE ns = ? AND key >= ? AND key < ? ORDER BY key"
_LIST_OPEN = "SELECT key, value FROM kv WHERE ns = ? AND key >= ? ORDER BY key"
_DELETE_RANGE = "DELETE FROM kv WHERE ns = ? AND key >= ? AND key < ?"
_DELETE_OPEN = "DELETE FROM kv WHERE ns = ? AND key >= ?"
_SET_ALARM = "INSERT OR REPLACE INTO alarms (ns, at_ms) VALUES (?, ?)"
_CLEAR_ALARM = "DELETE FROM alarms WHERE ns = ?"
_GET_ALARM = "SELECT at_ms FROM alarms WHERE ns = ?"

# How long a writer waits for another process's write lock before failing.
# Only matters when several processes share a file (e.g. a CLI reading a
# server's history); within one process the event loop serializes writers.
_BUSY_TIMEOUT_MS = 5000
# Page cache per connection (KiB; negative means KiB to SQLite).  There is one
# connection per file, and loading a long history reads every page of it:
# 32 MiB holds a 100,000-entry history, the default 2 MiB does not.
_CACHE_KIB = 32 * 1024
# Default memory-mapped read window (bytes).  A first load of a history
# reads it from the OS cache through the map instead of one read() per page,
# about twice as fast on a cold connection.  The trade-off (SQLite docs,
# "Memory-Mapped I/O"): an I/O error while reading the map is a SIGBUS
# instead of an error return — for the engine no worse than a kill -9,
# which it is built to survive.  Writes never go through the map.
DEFAULT_MMAP_SIZE = 64 * 1024 * 1024


# (resolved path, thread id, synchronous, mmap size): what one connection is for.
_Key = tuple[str, int, str, int]


class _Shared:
    """One open connection and how many drivers use it."""

    __slots__ = ("conn", "key", "users")

    def __init__(self, key: _Key, conn: sqlite3.Connection) -> None:
        self.key = key
        self.conn = conn
        self.users = 0


_registry: dict[_Key, _Shared] = {}
_registry_lock = threading.Lock()


def _open(path: str, synchronous: Synchronous, mmap_size: int) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; batch() issues its own
    # BEGIN IMMEDIATE ... COMMIT, single writes autocommit.
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=64)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {mmap_size}")
    for statement in _SCHEMA:
        conn.execute(statement)
    return conn


def _acquire(path: str, synchronous: Synchronous, mmap_size: int) -> _Shared:
    # One connection per (file, thread, settings): sqlite3 connections are
    # bound to their creating thread, and the pragmas are per connection.
    name = path if path == ":memory:" else os.path.realpath(path)
    key = (name, threading.get_ident(), synchronous, mmap_size)
    with _registry_lock:
        shared = _registry.get(key)
        if shared is None:
            shared = _Shared(key, _open(path, synchronous, mmap_size))
            _registry[key] = shared
        shared.users += 1
        return shared


def _release(shared: _Shared) -> None:
    with _registry_lock:
        shared.users -= 1
        if shared.users == 0:
            del _registry[shared.key]
            shared.conn.close()


class SQLiteDriver:
    """One workflow namespace in a shared SQLite file.

    Args:
        path: the database file (created if missing), or ``":memory:"``
            (then namespaces share one in-memory database per thread).
        namespace: the workflow's namespace, usually its workflow id.
        synchronous: ``"NORMAL"`` (default; safe against process crashes)
            or ``"FULL"`` (also safe against power loss, slower).
        mmap_size: bytes of the file SQLite may read through a memory map
            (``0`` turns memory-mapped reads off).

    Call :meth:`close` (or use ``async with``) when done; the file's
    connection closes with its last driver.
    """

    __slots__ = ("_conn", "_ns", "_shared")

    def __init__(
        self,
        path: str | os.PathLike[str],
        namespace: str = "default",
        *,
        synchronous: Synchronous = "NORMAL",
        mmap_size: int = DEFAULT_MMAP_SIZE,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"unsupported synchronous mode {synchronous!r}")
        if mmap_size < 0:
            raise ValueError(f"mmap_size must be >= 0, got {mmap_size}")
        self._ns = namespace
        self._shared: _Shared | None = _acquire(os.fspath(path), synchronous, int(mmap_size))
        self._conn = self._shared.conn

    @property
    def namespace(self) -> str:
        """The namespace this driver reads and writes."""
        return self._ns

    async def get(self, key: bytes) -> bytes | None:
        self._check_open()
        row = self._conn.execute(_GET, (self._ns, key)).fetchone()
        return None if row is None else bytes(row[0])

    async def set(self, key: bytes, value: bytes) -> None:
        await self.batch((Set(key, value),))

    async def delete(self, key: bytes) -> None:
        await self.batch((Delete(key),))

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        self._check_open()
        upper = prefix_successor(prefix)
        if upper is None:
            cursor = self._conn.execute(_LIST_OPEN, (self._ns, prefix))
        else:
            cursor = self._conn.execute(_LIST_RANGE, (self._ns, prefix, upper))
        return cursor.fetchall()

    async def delete_prefix(self, prefix: bytes) -> None:
        await self.batch((DeletePrefix(prefix),))

    async def batch(self, ops: Iterable[BatchOp]) -> None:
        checked = check_ops(ops)
        self._check_open()
        if not checked:
            return
        conn = self._conn
        for op in checked:
            if type(op) is Linked:
                self._check_linked(op)
        if len(checked) == 1 and type(checked[0]) is not Linked:
            # One statement is its own atomic transaction in autocommit mode;
            # skipping BEGIN/COMMIT saves two statements per single write.
            self._apply(conn, checked)
            return
        # IMMEDIATE takes the write lock up front, so a concurrent writer in
        # another process makes us wait (busy_timeout) instead of failing
        # half-way with SQLITE_BUSY on lock upgrade.
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._apply(conn, checked)
        except BaseException:
            # SQLite may already have rolled back on some errors (e.g. disk
            # full); only roll back what is still open.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def set_alarm(self, at_ms: int) -> None:
        await self.batch((SetAlarm(int(at_ms)),))

    async def clear_alarm(self) -> None:
        await self.batch((SetAlarm(None),))

    async def get_alarm(self) -> int | None:
        self._check_open()
        row = self._conn.execute(_GET_ALARM, (self._ns,)).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        """Release this driver; closing twice is harmless."""
        shared, self._shared = self._shared, None
        if shared is not None:
            _release(shared)

    async def __aenter__(self) -> SQLiteDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._shared is None else "open"
        return f"<SQLiteDriver {self._ns!r} {state}>"

    def _check_open(self) -> None:
        if self._shared is None:
            raise RuntimeError(f"sqlite driver for namespace {self._ns!r} is closed")

    def _check_linked(self, op: Linked) -> None:
        """A linked driver must be an open namespace on this very connection."""
        other = op.driver
        if not isinstance(other, SQLiteDriver) or other._shared is None:
            raise ValueError(f"cannot link {other!r} into a batch of {self!r}")
        if other._conn is not self._conn:
            raise ValueError(f"{other!r} does not share the connection of {self!r}")

    def _apply(
        self, conn: sqlite3.Connection, ops: Sequence[BatchOp], ns: str | None = None
    ) -> None:
        # Consecutive Sets (the common case: one step's entry + metadata +
        # counters) go through one executemany; other ops keep their order.
        ns = self._ns if ns is None else ns
        rows: list[tuple[str, bytes, bytes]] = []
        for op in ops:
            if type(op) is Set:
                rows.append((ns, op.key, op.value))
                continue
            if rows:
                conn.executemany(_SET, rows)
                rows = []
            match op:
                case Linked(driver=other, ops=linked):
                    self._apply(conn, linked, other.namespace)
                case Delete(key=key):
                    conn.execute(_DELETE, (ns, key))
                case DeletePrefix() | DeleteRange():
                    start, end = delete_bounds(op)
                    if end is None:
                        conn.execute(_DELETE_OPEN, (ns, start))
                    else:
                        conn.execute(_DELETE_RANGE, (ns, start, end))
                case SetAlarm(at_ms=at_ms):
                    if at_ms is None:
                        conn.execute(_CLEAR_ALARM, (ns,))
                    else:
                        conn.execute(_SET_ALARM, (ns, at_ms))
        if rows:
            conn.executemany(_SET, rows)
