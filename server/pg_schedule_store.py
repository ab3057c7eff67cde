"""Actor schedules and their fire history in the cluster's PostgreSQL database.

The same two tables as the SQLite file's (``schedule_store.py``), in the
cluster's schema, with the same methods and guarantees, so a node that takes
an actor over finds its schedules and fires exactly where the last owner
left them and resumes them as a restart would::

    schedules(actor_id, id, name, kind, action, args, next_run_at, last_run_at,
              expression, timezone, interval_ms, max_history, created_at)
    schedule_fires(actor_id, schedule_id, seq, action, scheduled_at, fired_at,
                   finished_at, result, error)

**Synchronous, on purpose.** ``ctx.schedule.after(...)`` is a plain call
that returns once the schedule is committed (inside a workflow step that
matters: the step's completion is recorded right after). So this store uses
one synchronous psycopg connection per node, as the SQLite store uses one
synchronous sqlite3 connection: each call blocks the event loop for its
round trips. ``lock_timeout`` and ``statement_timeout`` bound that block
when the database is slow or a lock is held elsewhere; the call then fails
(the scheduling call raises, a fire is retried a second later). The block
never waits on this process itself: the async pool's connections autocommit
(``postgres_driver.py``), so a lease statement holds no row lock while the
loop is blocked, and the explicit transactions that do span awaits take only
share locks on lease rows, which this store's share locks never wait for.

**Fenced.** Every write runs ``fence(conn, actor_id)`` first, in its
transaction: the cluster node's lease check (``leases.py``), which raises
``LeaseLost`` once this node no longer owns the actor. A node that was
paused past its lease can therefore neither fire a schedule again nor
overwrite the outcome of a fire the new owner already closed. Reads are not
fenced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import msgpack
import psycopg
from psycopg import sql

from .schedule_store import FireRecord, ScheduleRecord

__all__ = ["PostgresScheduleStore", "ScheduleFence"]

#: Runs first in every write transaction for ``actor_id``; raises to refuse the write.
ScheduleFence = Callable[[psycopg.Connection[Any], str], None]

#: How long a statement may wait for a lock, and run at all (milliseconds).
LOCK_TIMEOUT_MS = 5000
STATEMENT_TIMEOUT_MS = 15000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {schema}.schedules ("
    " actor_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT, kind TEXT NOT NULL,"
    " action TEXT NOT NULL, args BYTEA NOT NULL, next_run_at BIGINT, last_run_at BIGINT,"
    " expression TEXT, timezone TEXT, interval_ms BIGINT, max_history INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL, PRIMARY KEY (actor_id, id))",
    "CREATE TABLE IF NOT EXISTS {schema}.schedule_fires ("
    " actor_id TEXT NOT NULL, schedule_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " action TEXT NOT NULL, scheduled_at BIGINT NOT NULL, fired_at BIGINT NOT NULL,"
    " finished_at BIGINT, result TEXT NOT NULL, error BYTEA,"
    " PRIMARY KEY (actor_id, schedule_id, seq))",
)

_COLUMNS = (
    "id, name, kind, action, args, next_run_at, last_run_at, expression, timezone,"
    " interval_ms, max_history, created_at"
)
_FIRE_COLUMNS = "seq, action, scheduled_at, fired_at, finished_at, result, error"
_UPDATE = ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _COLUMNS.split(",")[1:])


def _pack(value: Any) -> bytes:
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(bytes(data), raw=False, strict_map_key=False)


def _record(actor_id: str, row: tuple[Any, ...]) -> ScheduleRecord:
    values = list(row)
    values[4] = bytes(values[4])  # args: bytea may come back as a memoryview
    return ScheduleRecord(actor_id, *values)


def _fire(row: tuple[Any, ...]) -> FireRecord:
    seq, action, scheduled_at, fired_at, finished_at, result, error = row
    return FireRecord(
        int(seq),
        action,
        scheduled_at,
        fired_at,
        finished_at,
        result,
        None if error is None else _unpack(error),
    )


class _Statements:
    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(schema=s)

        self.create = [q(text) for text in _SCHEMA]
        # COLLATE "C": ids in byte order, as SQLite orders them.
        self.load = q(
            f"SELECT {_COLUMNS} FROM {{schema}}.schedules WHERE actor_id = %s"
            ' ORDER BY id COLLATE "C"'
        )
        self.get = q(f"SELECT {_COLUMNS} FROM {{schema}}.schedules WHERE actor_id = %s AND id = %s")
        self.put = q(
            f"INSERT INTO {{schema}}.schedules (actor_id, {_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (actor_id, id) DO UPDATE SET {_UPDATE}"
        )
        self.delete = q("DELETE FROM {schema}.schedules WHERE actor_id = %s AND id = %s")
        self.delete_fires = q(
            "DELETE FROM {schema}.schedule_fires WHERE actor_id = %s AND schedule_id = %s"
        )
        self.finished = q(
            "SELECT id FROM {schema}.schedules WHERE actor_id = %s AND next_run_at IS NULL"
            ' ORDER BY last_run_at DESC NULLS LAST, id COLLATE "C" DESC OFFSET %s'
        )
        self.next_seq = q(
            "SELECT MAX(seq) FROM {schema}.schedule_fires WHERE actor_id = %s AND schedule_id = %s"
        )
        self.insert_fire = q(
            f"INSERT INTO {{schema}}.schedule_fires (actor_id, schedule_id, {_FIRE_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.prune_fires = q(
            "DELETE FROM {schema}.schedule_fires WHERE actor_id = %s AND schedule_id = %s"
            " AND seq <= (SELECT seq FROM {schema}.schedule_fires"
            " WHERE actor_id = %s AND schedule_id = %s ORDER BY seq DESC LIMIT 1 OFFSET %s)"
        )
        self.finish_fire = q(
            "UPDATE {schema}.schedule_fires SET finished_at = %s, result = %s, error = %s"
            " WHERE actor_id = %s AND schedule_id = %s AND seq = %s"
        )
        self.fail_running = q(
            "UPDATE {schema}.schedule_fires SET finished_at = %s, result = 'error', error = %s"
            " WHERE actor_id = %s AND result = 'running'"
        )
        self.history = q(
            f"SELECT {_FIRE_COLUMNS} FROM {{schema}}.schedule_fires"
            " WHERE actor_id = %s AND schedule_id = %s ORDER BY seq DESC LIMIT %s"
        )


class PostgresScheduleStore:
    """Schedules and fires of every actor in one PostgreSQL schema (see the module docstring).

    Args:
        conninfo: the database's connection string.
        schema: the cluster's schema (created by ``PostgresStore.open``).
        fence: the write check; ``None`` (tests of the store alone): no check.
        idle_in_transaction_ms: as ``PostgresStore.open``'s (a cluster node's lease).
    """

    def __init__(
        self,
        conninfo: str,
        schema: str,
        fence: ScheduleFence | None = None,
        idle_in_transaction_ms: int | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._idle_in_transaction_ms = idle_in_transaction_ms
        self._schema = schema
        self._fence = fence
        self._sql = _Statements(schema)
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> PostgresScheduleStore:
        """Connect and create the tables if missing (also done lazily by the first call)."""
        self._connection()
        return self

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        # A connection lost to a database restart is replaced on next use.
        self._conn = None
        conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        try:
            conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            if self._idle_in_transaction_ms is not None:
                idle = int(self._idle_in_transaction_ms)
                conn.execute(f"SET idle_in_transaction_session_timeout = {idle}")
            with conn.transaction():
                # Several nodes starting at once must not race on CREATE ... IF NOT EXISTS.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (self._schema + ".schedules",)
                )
                for statement in self._sql.create:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    @contextmanager
    def _write(self, actor_id: str) -> Iterator[psycopg.Connection[Any]]:
        """A transaction whose first statement is the fence of ``actor_id``."""
        conn = self._connection()
        with conn.transaction():
            if self._fence is not None:
                self._fence(conn, actor_id)
            yield conn

    # schedules ----------------------------------------------------------------

    def load(self, actor_id: str) -> list[ScheduleRecord]:
        """Every schedule of ``actor_id``, finished one-shots included."""
        rows = self._connection().execute(self._sql.load, (actor_id,)).fetchall()
        return [_record(actor_id, row) for row in rows]

    def get(self, actor_id: str, schedule_id: str) -> ScheduleRecord | None:
        row = self._connection().execute(self._sql.get, (actor_id, schedule_id)).fetchone()
        return None if row is None else _record(actor_id, row)

    def put(self, record: ScheduleRecord) -> None:
        """Create or replace a schedule (its fire history is kept)."""
        with self._write(record.actor_id) as conn:
            conn.execute(self._sql.put, record.row())

    def delete(self, actor_id: str, schedule_id: str) -> bool:
        """Remove a schedule and its fire history; ``False`` when there was none."""
        with self._write(actor_id) as conn:
            cursor = conn.execute(self._sql.delete, (actor_id, schedule_id))
            conn.execute(self._sql.delete_fires, (actor_id, schedule_id))
        return cursor.rowcount > 0

    def prune_finished(self, actor_id: str, keep: int) -> None:
        """Keep only the ``keep`` most recently fired finished one-shots (and their fires)."""
        with self._write(actor_id) as conn:
            rows = conn.execute(self._sql.finished, (actor_id, keep)).fetchall()
            for (schedule_id,) in rows:
                conn.execute(self._sql.delete, (actor_id, schedule_id))
                conn.execute(self._sql.delete_fires, (actor_id, schedule_id))

    # fires --------------------------------------------------------------------

    def begin_fire(self, record: ScheduleRecord, fire: FireRecord) -> int:
        """Record a fire and the schedule's advance (or end) in one transaction.

        As in the SQLite store, this commit is what makes a one-shot
        at-most-once; here it is also fenced, so an owner that lost the
        actor cannot fire it a second time. Returns the fire's sequence number.
        """
        actor_id, schedule_id = record.actor_id, record.id
        with self._write(actor_id) as conn:
            row = conn.execute(self._sql.next_seq, (actor_id, schedule_id)).fetchone()
            seq = 0 if row is None or row[0] is None else int(row[0]) + 1
            conn.execute(self._sql.put, record.row())
            fire = attrs.evolve(fire, seq=seq)
            conn.execute(
                self._sql.insert_fire,
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
            conn.execute(
                self._sql.prune_fires,
                (actor_id, schedule_id, actor_id, schedule_id, max(record.max_history, 1)),
            )
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
        with self._write(actor_id) as conn:
            conn.execute(
                self._sql.finish_fire,
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
        """Close every fire still marked running (left by a crash or a lost node)."""
        with self._write(actor_id) as conn:
            cursor = conn.execute(self._sql.fail_running, (finished_at, _pack(error), actor_id))
        return cursor.rowcount

    def history(self, actor_id: str, schedule_id: str, limit: int) -> list[FireRecord]:
        """The newest ``limit`` fires, oldest first."""
        rows = (
            self._connection().execute(self._sql.history, (actor_id, schedule_id, limit)).fetchall()
        )
        return [_fire(row) for row in reversed(rows)]
