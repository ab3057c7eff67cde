"""The PostgreSQL :class:`~.driver.Driver`: every durable byte in one database.

``PostgresStore`` owns a pool of connections (psycopg 3, async) to one
database and creates the schema; ``store.driver(namespace)`` is one
workflow's namespace in it, exactly as ``SQLiteDriver(path, namespace)`` is
one namespace of a file (ENGINE.md "Storage").

Layout (in the schema ``actorscope`` unless told otherwise)::

    kv(ns TEXT, key BYTEA, value BYTEA, PRIMARY KEY (ns, key))
    alarms(ns TEXT PRIMARY KEY, at_ms BIGINT)

PostgreSQL orders ``bytea`` by unsigned bytes, then length: Python's
``bytes`` order, so ``list(prefix)`` is one range scan on the primary key,
as in SQLite.

Consistent reads: ``driver.snapshot()`` reads several keys and ranges in one
``REPEATABLE READ, READ ONLY`` transaction, so a whole history loaded through
it is one committed state even while the same process writes (each read
awaits the database, and a write may commit between two reads otherwise).

Atomicity: every ``batch`` is one transaction on one pooled connection;
consecutive ``Set``s go in one ``executemany`` (psycopg pipelines it).
``Linked`` ops name another driver of the same store and are applied to its
namespace in the same transaction (a replay and its audit record). A
``fence`` given to a driver runs first inside every write transaction and
may raise to refuse the write: that is where a node that may have lost its
ownership of an actor proves it still holds it, in the same transaction as
the write, so a stale owner can never write.

Requires the ``postgresql`` extra (``pip install 'actorscope[postgresql]'``):
``psycopg[binary,pool]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

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

__all__ = ["Fence", "PostgresDriver", "PostgresStore"]

#: Runs inside a write transaction before its ops; raises to refuse the write.
Fence = Callable[[AsyncConnection[Any]], Awaitable[None]]

_SCHEMA = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {schema}.kv ("
    " ns TEXT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (ns, key))",
    "CREATE TABLE IF NOT EXISTS {schema}.alarms (ns TEXT PRIMARY KEY, at_ms BIGINT NOT NULL)",
)


class _Statements:
    """The driver's SQL, qualified with one schema name."""

    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(schema=s)

        self.get = q("SELECT value FROM {schema}.kv WHERE ns = %s AND key = %s")
        self.set = q(
            "INSERT INTO {schema}.kv (ns, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value"
        )
        self.delete = q("DELETE FROM {schema}.kv WHERE ns = %s AND key = %s")
        self.list_range = q(
            "SELECT key, value FROM {schema}.kv WHERE ns = %s AND key >= %s AND key < %s"
            " ORDER BY key"
        )
        self.list_open = q(
            "SELECT key, value FROM {schema}.kv WHERE ns = %s AND key >= %s ORDER BY key"
        )
        self.delete_range = q("DELETE FROM {schema}.kv WHERE ns = %s AND key >= %s AND key < %s")
        self.delete_open = q("DELETE FROM {schema}.kv WHERE ns = %s AND key >= %s")
        self.set_alarm = q(
            "INSERT INTO {schema}.alarms (ns, at_ms) VALUES (%s, %s)"
            " ON CONFLICT (ns) DO UPDATE SET at_ms = EXCLUDED.at_ms"
        )
        self.clear_alarm = q("DELETE FROM {schema}.alarms WHERE ns = %s")
        self.get_alarm = q("SELECT at_ms FROM {schema}.alarms WHERE ns = %s")
        self.create = [q(text) for text in _SCHEMA]


class PostgresStore:
    """A connection pool to one database, and the drivers of its namespaces.

    Open with ``await PostgresStore.open(dsn)``; ``await store.close()`` when
    done (or ``async with``).
    """

    def __init__(self, pool: AsyncConnectionPool[Any], schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self.sql = _Statements(schema)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "actorscope",
        min_size: int = 1,
        max_size: int = 8,
        idle_in_transaction_ms: int | None = None,
    ) -> PostgresStore:
        """Connect, create the schema if missing, and return the store.

        ``idle_in_transaction_ms``: PostgreSQL ends a session of the pool that
        sits that long inside a transaction (``idle_in_transaction_session_timeout``),
        releasing its locks; a cluster node passes its lease, so that a node
        paused in the middle of a fenced write cannot hold a takeover back.

        Raises ``psycopg.OperationalError`` (with PostgreSQL's reason) when
        the database cannot be reached.
        """
        # One plain connection first: a wrong address, database or password
        # fails here at once with PostgreSQL's own message, where the pool
        # would retry quietly until its timeout.
        probe = await AsyncConnection.connect(dsn, connect_timeout=10)
        await probe.close()
        # Autocommit: a lone statement (a lease renewal, say) commits in the
        # server, holding no row lock while the client awaits its reply; only
        # explicit transactions (every batch) span awaits. A synchronous
        # connection of the same process (the schedule store's) may then
        # block the event loop on a row lock without waiting for a COMMIT
        # that only the blocked loop could send.
        configure = None
        if idle_in_transaction_ms is not None:
            setting = f"SET idle_in_transaction_session_timeout = {int(idle_in_transaction_ms)}"

            async def configure(conn: AsyncConnection[Any]) -> None:
                await conn.execute(setting)

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=configure,
        )
        await pool.open(wait=True, timeout=30)
        store = cls(pool, schema)
        try:
            async with pool.connection() as conn, conn.transaction():
                # Concurrent first starts of several nodes must not race on
                # CREATE ... IF NOT EXISTS (it is not atomic in PostgreSQL).
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
                for statement in store.sql.create:
                    await conn.execute(statement)
        except BaseException:
            await pool.close()
            raise
        return store

    def driver(self, namespace: str, *, fence: Fence | None = None) -> PostgresDriver:
        """The driver of ``namespace``; ``fence`` guards every write it makes."""
        return PostgresDriver(self, namespace, fence=fence)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class PostgresDriver:
    """One workflow namespace in a :class:`PostgresStore`."""

    __slots__ = ("_fence", "_ns", "_sql", "_store")

    def __init__(self, store: PostgresStore, namespace: str, *, fence: Fence | None = None) -> None:
        self._store = store
        self._ns = namespace
        self._sql = store.sql
        self._fence = fence

    @property
    def namespace(self) -> str:
        return self._ns

    @property
    def store(self) -> PostgresStore:
        return self._store

    async def get(self, key: bytes) -> bytes | None:
        async with self._store.pool.connection() as conn:
            return await _get(conn, self._sql, self._ns, key)

    async def set(self, key: bytes, value: bytes) -> None:
        await self.batch((Set(key, value),))

    async def delete(self, key: bytes) -> None:
        await self.batch((Delete(key),))

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        async with self._store.pool.connection() as conn:
            return await _list(conn, self._sql, self._ns, prefix)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[_SnapshotReads]:
        """Reads that all see the namespace as of one instant (``driver.SnapshotReads``)."""
        async with self._store.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _SnapshotReads(conn, self._sql, self._ns)

    async def delete_prefix(self, prefix: bytes) -> None:
        await self.batch((DeletePrefix(prefix),))

    async def batch(self, ops: Iterable[BatchOp]) -> None:
        checked = check_ops(ops)
        if not checked:
            return
        fences = [] if self._fence is None else [self._fence]
        for op in checked:
            if type(op) is Linked:
                other = self._check_linked(op)
                if other._fence is not None and other._fence not in fences:
                    fences.append(other._fence)
        async with self._store.pool.connection() as conn, conn.transaction():
            for fence in fences:
                await fence(conn)
            await self._apply(conn, checked, self._ns)

    def _check_linked(self, op: Linked) -> PostgresDriver:
        """A linked driver must be a namespace of this very store (one database)."""
        other = op.driver
        if not isinstance(other, PostgresDriver) or other._store is not self._store:
            raise ValueError(f"cannot link {other!r} into a batch of {self!r}")
        return other

    async def set_alarm(self, at_ms: int) -> None:
        await self.batch((SetAlarm(int(at_ms)),))

    async def clear_alarm(self) -> None:
        await self.batch((SetAlarm(None),))

    async def get_alarm(self) -> int | None:
        async with self._store.pool.connection() as conn:
            cursor = await conn.execute(self._sql.get_alarm, (self._ns,))
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        """Nothing to release: the store owns the connections (``SQLiteDriver`` parity)."""

    def __repr__(self) -> str:
        return f"<PostgresDriver {self._ns!r}>"

    async def _apply(self, conn: AsyncConnection[Any], ops: Sequence[BatchOp], ns: str) -> None:
        q = self._sql
        rows: list[tuple[str, bytes, bytes]] = []
        async with conn.cursor() as cursor:
            for op in ops:
                if type(op) is Set:
                    rows.append((ns, op.key, op.value))
                    continue
                if rows:
                    await cursor.executemany(q.set, rows)
                    rows = []
                match op:
                    case Linked(driver=other, ops=linked):
                        await self._apply(conn, linked, other.namespace)
                    case Delete(key=key):
                        await cursor.execute(q.delete, (ns, key))
                    case DeletePrefix() | DeleteRange():
                        start, end = delete_bounds(op)
                        if end is None:
                            await cursor.execute(q.delete_open, (ns, start))
                        else:
                            await cursor.execute(q.delete_range, (ns, start, end))
                    case SetAlarm(at_ms=at_ms):
                        if at_ms is None:
                            await cursor.execute(q.clear_alarm, (ns,))
                        else:
                            await cursor.execute(q.set_alarm, (ns, at_ms))
            if rows:
                await cursor.executemany(q.set, rows)


class _SnapshotReads:
    """``get`` and ``list`` inside one snapshot transaction (``PostgresDriver.snapshot``)."""

    __slots__ = ("_conn", "_ns", "_sql")

    def __init__(self, conn: AsyncConnection[Any], statements: _Statements, ns: str) -> None:
        self._conn = conn
        self._sql = statements
        self._ns = ns

    async def get(self, key: bytes) -> bytes | None:
        return await _get(self._conn, self._sql, self._ns, key)

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return await _list(self._conn, self._sql, self._ns, prefix)


async def _get(conn: AsyncConnection[Any], q: _Statements, ns: str, key: bytes) -> bytes | None:
    cursor = await conn.execute(q.get, (ns, key))
    row = await cursor.fetchone()
    return None if row is None else bytes(row[0])


async def _list(
    conn: AsyncConnection[Any], q: _Statements, ns: str, prefix: bytes
) -> list[tuple[bytes, bytes]]:
    upper = prefix_successor(prefix)
    if upper is None:
        cursor = await conn.execute(q.list_open, (ns, prefix))
    else:
        cursor = await conn.execute(q.list_range, (ns, prefix, upper))
    rows = await cursor.fetchall()
    return [(bytes(k), bytes(v)) for k, v in rows]
