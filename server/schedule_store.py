"""Where actor schedules and their fire history live: two tables of the server's SQLite file.

The tables sit beside the key-value store of ``store.py`` in
``actorscope.sqlite``::

    schedules(actor_id, id, name, kind, action, args, next_run_at, last_run_at,
              expression, timezone, interval_ms, max_history, created_at)
    schedule_fires(actor_id, schedule_id, seq, action, scheduled_at, fired_at,
                   finished_at, result, error)

``args`` and ``error`` are MessagePack. A schedule whose ``next_run_at`` is
NULL is finished (a one-shot that fired): it is no longer listed, but its
fire history stays readable until it is deleted or pruned.

Every method is **synchronous** and commits before it returns: a schedule
created by an action is on disk when ``ctx.schedule.after(...)`` returns,
even inside a workflow step whose completion is recorded right after (the
key-value driver is asynchronous, which would leave a window there). The
file's other connection (the engine's ``SQLiteDriver``) never holds a
transaction across an ``await``, so in one event-loop thread the two never
interleave; both use WAL and a busy timeout for other processes.

Stores are shared per (file, thread) and reference-counted, like the
engine's driver connections, so a server with many actors opens one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import attrs
import msgpack

__all__ = [
    "FireRecord",
    "ScheduleRecord",
    "ScheduleStorage",
    "ScheduleStore",
    "acquire_schedule_store",
    "release_schedule_store",
]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schedules ("
    " actor_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT, kind TEXT NOT NULL,"
    " action TEXT NOT NULL, args BLOB NOT NULL, next_run_at INTEGER, last_run_at INTEGER,"
    " expression TEXT, timezone TEXT, interval_ms INTEGER, max_history INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, PRIMARY KEY (actor_id, id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS schedule_fires ("
    " actor_id TEXT NOT NULL, schedule_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " action TEXT NOT NULL, scheduled_at INTEGER NOT NULL, fired_at INTEGER NOT NULL,"
    " finished_at INTEGER, result TEXT NOT NULL, error BLOB,"
    " PRIMARY KEY (actor_id, schedule_id, seq)) WITHOUT ROWID",
)

_COLUMNS = (
    "id, name, kind, action, args, next_run_at, last_run_at, expression, timezone,"
    " interval_ms, max_history, created_at"
)
_FIRE_COLUMNS = "seq, action, scheduled_at, fired_at, finished_at, result, error"
_BUSY_TIMEOUT_MS = 5000


def _pack(value: Any) -> bytes:
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


@attrs.frozen
class ScheduleRecord:
    """One schedule as stored; times are epoch milliseconds.

    ``args`` is the MessagePack of the action's argument list.
    ``next_run_at`` is ``None`` once a one-shot has fired.
    """

    actor_id: str
    id: str
    name: str | None
    kind: str
    action: str
    args: bytes
    next_run_at: int | None
    last_run_at: int | None
    expression: str | None
    timezone: str | None
    interval_ms: int | None
    max_history: int
    created_at: int

    def row(self) -> tuple[Any, ...]:
        return (
            self.actor_id,
            self.id,
            self.name,
            self.kind,
            self.action,
            self.args,
            self.next_run_at,
            self.last_run_at,
            self.expression,
            self.timezone,
            self.interval_ms,
            self.max_history,
            self.created_at,
        )


@attrs.frozen
class FireRecord:
    """One fire; ``error`` is ``{"group", "code", "message", "metadata"}`` or ``None``."""

    seq: int
    action: str
    scheduled_at: int
    fired_at: int
    finished_at: int | None
    result: str
    error: dict[str, Any] | None


def _fire(row: tuple[Any, ...]) -> FireRecord:
    seq, action, scheduled_at, fired_at, finished_at, result, error = row
    return FireRecord(
        seq,
        action,
        scheduled_at,
        fired_at,
        finished_at,
        result,
        None if error is None else _unpack(error),
    )


class ScheduleStorage(Protocol):
    """What ``ActorSchedules`` needs of a schedule store.

    This SQLite store and the cluster's PostgreSQL one
    (``pg_schedule_store.py``) both provide it; every method commits before
    it returns.
    """

    def load(self, actor_id: str) -> list[ScheduleRecord]: ...

    def put(self, record: ScheduleRecord) -> None: ...

    def delete(self, actor_id: str, schedule_id: str) -> bool: ...

    def prune_finished(self, actor_id: str, keep: int) -> None: ...

    def begin_fire(self, record: ScheduleRecord, fire: FireRecord) -> int: ...

    def finish_fire(
        self,
        actor_id: str,
        schedule_id: str,
        seq: int,
        *,
        finished_at: int,
        result: str,
        error: dict[str, Any] | None,
    ) -> None: ...

    def fail_running(self, actor_id: str, *, finished_at: int, error: dict[str, Any]) -> int: ...

    def history(self, actor_id: str, schedule_id: str, limit: int) -> list[FireRecord]: ...


class ScheduleStore:
    """Schedules and fires of every actor in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        # isolation_level=None: statements autocommit; _transaction() opens
        # the multi-statement ones explicitly.
        self._conn = sqlite3.connect(os.fspath(path), isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # schedules ----------------------------------------------------------------

    def load(self, actor_id: str) -> list[ScheduleRecord]:
        """Every schedule of ``actor_id``, finished one-shots included."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM schedules WHERE actor_id = ? ORDER BY id", (actor_id,)
        ).fetchall()
        return [ScheduleRecord(actor_id, *row) for row in rows]

    def get(self, actor_id: str, schedule_id: str) -> ScheduleRecord | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM schedules WHERE actor_id = ? AND id = ?",
            (actor_id, schedule_id),
        ).fetchone()
        return None if row is None else ScheduleRecord(actor_id, *row)

    def put(self, record: ScheduleRecord) -> None:
        """Create or replace a schedule (its fire history is kept)."""
        self._conn.execute(
            f"INSERT OR REPLACE INTO schedules (actor_id, {_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            record.row(),
        )

    def delete(self, actor_id: str, schedule_id: str) -> bool:
        """Remove a schedule and its fire history; ``False`` when there was none."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM schedules WHERE actor_id = ? AND id = ?", (actor_id, schedule_id)
            )
            conn.execute(
                "DELETE FROM schedule_fires WHERE actor_id = ? AND schedule_id = ?",
                (actor_id, schedule_id),
            )
        return cursor.rowcount > 0

    def prune_finished(self, actor_id: str, keep: int) -> None:
        """Keep only the ``keep`` most recently fired finished one-shots (and their fires)."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM schedules WHERE actor_id = ? AND next_run_at IS NULL"
                " ORDER BY last_run_at DESC, id DESC LIMIT -1 OFFSET ?",
                (actor_id, keep),
            ).fetchall()
            for (schedule_id,) in rows:
                conn.execute(
                    "DELETE FROM schedules WHERE actor_id = ? AND id = ?", (actor_id, schedule_id)
                )
                conn.execute(
                    "DELETE FROM schedule_fires WHERE actor_id = ? AND schedule_id = ?",
                    (actor_id, schedule_id),
                )

    # fires --------------------------------------------------------------------

    def begin_fire(self, record: ScheduleRecord, fire: FireRecord) -> int:
        """Record a fire and the schedule's advance (or end) in one transaction.

        This commit is what makes a one-shot at-most-once: it is marked
        finished *before* its action runs, so a crash during the action can
        never make it fire again. Returns the fire's sequence number.
        """
        with self._transaction() as conn:
            seq = self._next_seq(conn, record.actor_id, record.id)
            conn.execute(
                f"INSERT OR REPLACE INTO schedules (actor_id, {_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                record.row(),
            )
            self._insert_fire(conn, record.actor_id, record.id, attrs.evolve(fire, seq=seq))
            self._prune_fires(conn, record.actor_id, record.id, record.max_history)
        return seq

    def finish_fire(
        self,
        actor_id: str,
        schedule_id: str,
        seq: int,
        *,
        finished_at: int,
        result: str,
        error: dict[str, Any] | None,
    ) -> None:
        """Set the outcome of a running fire."""
        self._conn.execute(
            "UPDATE schedule_fires SET finished_at = ?, result = ?, error = ?"
            " WHERE actor_id = ? AND schedule_id = ? AND seq = ?",
            (
                finished_at,
                result,
                None if error is None else _pack(error),
                actor_id,
                schedule_id,
                seq,
            ),
        )

    def fail_running(self, actor_id: str, *, finished_at: int, error: dict[str, Any]) -> int:
        """Close every fire still marked running (left by a crash); returns how many."""
        cursor = self._conn.execute(
            "UPDATE schedule_fires SET finished_at = ?, result = 'error', error = ?"
            " WHERE actor_id = ? AND result = 'running'",
            (finished_at, _pack(error), actor_id),
        )
        return cursor.rowcount

    def history(self, actor_id: str, schedule_id: str, limit: int) -> list[FireRecord]:
        """The newest ``limit`` fires, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_FIRE_COLUMNS} FROM schedule_fires WHERE actor_id = ? AND schedule_id = ?"
            " ORDER BY seq DESC LIMIT ?",
            (actor_id, schedule_id, limit),
        ).fetchall()
        return [_fire(row) for row in reversed(rows)]

    def _next_seq(self, conn: sqlite3.Connection, actor_id: str, schedule_id: str) -> int:
        row = conn.execute(
            "SELECT MAX(seq) FROM schedule_fires WHERE actor_id = ? AND schedule_id = ?",
            (actor_id, schedule_id),
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def _insert_fire(
        self, conn: sqlite3.Connection, actor_id: str, schedule_id: str, fire: FireRecord
    ) -> None:
        conn.execute(
            f"INSERT INTO schedule_fires (actor_id, schedule_id, {_FIRE_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                actor_id,
                schedule_id,
                fire.seq,
                fire.action,
                fire.scheduled_at,
                fire.fired_at,
                fire.finished_at,
                fire.result,
                None if fire.error is None else _pack(fire.error),
            ),
        )

    def _prune_fires(
        self, conn: sqlite3.Connection, actor_id: str, schedule_id: str, keep: int
    ) -> None:
        conn.execute(
            "DELETE FROM schedule_fires WHERE actor_id = ? AND schedule_id = ? AND seq <= ("
            " SELECT seq FROM schedule_fires WHERE actor_id = ? AND schedule_id = ?"
            " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (actor_id, schedule_id, actor_id, schedule_id, max(keep, 1)),
        )


# One store per (file, thread), shared by every actor of a server.
_Key = tuple[str, int]
_stores: dict[_Key, tuple[ScheduleStore, int]] = {}
_lock = threading.Lock()


def _key(path: Path | str) -> _Key:
    return (os.path.realpath(os.fspath(path)), threading.get_ident())


def acquire_schedule_store(path: Path | str) -> ScheduleStore:
    """The shared store of ``path`` for this thread; pair with :func:`release_schedule_store`."""
    key = _key(path)
    with _lock:
        entry = _stores.get(key)
        store = ScheduleStore(path) if entry is None else entry[0]
        _stores[key] = (store, 1 if entry is None else entry[1] + 1)
        return store


def release_schedule_store(path: Path | str) -> None:
    key = _key(path)
    with _lock:
        entry = _stores.get(key)
        if entry is None:
            return
        store, users = entry
        if users <= 1:
            del _stores[key]
            store.close()
        else:
            _stores[key] = (store, users - 1)
