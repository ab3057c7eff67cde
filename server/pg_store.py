"""The server's store on PostgreSQL: what ``store.ActorStore`` keeps, in one shared database.

``actorscope serve --store postgresql://…`` keeps the actor records, state,
spans, workflow histories and alarms, queues, the replay audit and the
archived attempts in the namespaces ``actors``, ``wf/{actorId}`` and
``audit/{actorId}`` of one ``PostgresStore``, exactly the layout of the
SQLite file (``store.py``), so the guarantees carry over: every engine batch
is one transaction, and ``Linked`` ops (a replay's audit record and restored
state) commit in the same transaction as the rewind they belong to.

Every write for an actor goes through a driver *fenced* with this node's
lease of the actor (``leases.py``): ``fence_of(actor_id)`` gives the check,
which runs first inside the write's transaction and refuses the write once
the lease is lost. Reads are not fenced.

What stays on the node:

* an actor's own database (``actors/{actorId}.sqlite`` in the data
  directory), so such an actor is *pinned* to the node that created it
  (``home/{actorId}`` records that node) and is never taken over.

The actor schedules are in the database too (``pg_schedule_store.py``,
fenced the same way), so they move with their actor.

One actor per (name, key) in the whole cluster: ``create`` inserts the key
``name/{msgpack([name, key])}`` → actor id with ``ON CONFLICT DO NOTHING`` in
the transaction that writes the record, so of two nodes creating the same
(name, key) at once the database lets exactly one commit; the other gets
``ActorExists`` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from psycopg import OperationalError, sql

from actorscope.engine.postgres_driver import Fence, PostgresDriver, PostgresStore

from .pg_schedule_store import PostgresScheduleStore
from .schedule_store import ScheduleStorage
from .store import DB_FILE, ActorExists, ActorRecord, ActorStore, pack, unpack

__all__ = ["PostgresActorStore"]

_NAMESPACE = "actors"
#: Delay before a workflow run that failed on a passing database error runs again.
_RETRY_S = 1.0


class PostgresActorStore(ActorStore):
    """``ActorStore`` over a ``PostgresStore``; ``fence_of`` guards each actor's writes."""

    def __init__(
        self,
        pg: PostgresStore,
        data_dir: Path,
        fence_of: Callable[[str], Fence | None],
        schedules: PostgresScheduleStore,
    ) -> None:
        # No call to ActorStore.__init__: nothing of the SQLite file is opened
        # but the node-local part (actor databases).
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "actors").mkdir(exist_ok=True)
        self.db_path = data_dir / DB_FILE
        self.pg = pg
        self._fence_of = fence_of
        self._kv = pg.driver(_NAMESPACE)  # type: ignore[assignment]  # same Driver shape
        self.schedules = schedules
        self._claim_name = sql.SQL(
            "INSERT INTO {schema}.kv (ns, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (ns, key) DO NOTHING RETURNING 1"
        ).format(schema=sql.Identifier(pg.schema))

    def retry_after(self, exc: BaseException) -> float | None:
        """A lost connection, a pool timeout, a serialization failure: try again in a second.

        The run's batch was rolled back whole, so the next run resumes from
        the history as a restart would. A refused fence (``LeaseLost``) is
        not retried: the node drops the actor and its new owner resumes it.
        """
        return _RETRY_S if isinstance(exc, OperationalError) else None

    def writer(self, actor_id: str) -> PostgresDriver:
        return self.pg.driver(_NAMESPACE, fence=self._fence_of(actor_id))

    def workflow_driver(self, actor_id: str) -> Any:
        return self.driver(f"wf/{actor_id}")

    def driver(self, namespace: str) -> Any:
        # Every per-actor namespace is "{kind}/{actorId}": fence it with that actor's lease.
        _, _, actor_id = namespace.partition("/")
        fence = self._fence_of(actor_id) if actor_id else None
        return self.pg.driver(namespace, fence=fence)

    def close(self) -> None:
        """The pool belongs to the cluster node, which closes it after the drain."""

    def acquire_schedules(self) -> ScheduleStorage:
        """The node's one schedule store (its writes are fenced per actor)."""
        return self.schedules

    def release_schedules(self) -> None:
        """The node closes the schedule store after the drain."""

    async def create(self, record: ActorRecord, state: Any) -> None:
        """Write a new actor's name, record and state in one transaction, fenced.

        Raises ``ActorExists`` (nothing written) when another node holds the
        (name, key) already.
        """
        name_key = _name_key(record.name, record.key)
        rows = [(_NAMESPACE, f"rec/{record.actor_id}".encode(), pack(attrs.asdict(record)))]
        if state is not None:
            rows.append((_NAMESPACE, f"state/{record.actor_id}".encode(), pack(state)))
        fence = self._fence_of(record.actor_id)
        async with self.pg.pool.connection() as conn, conn.transaction():
            if fence is not None:
                await fence(conn)
            cursor = await conn.execute(
                self._claim_name, (_NAMESPACE, name_key, record.actor_id.encode())
            )
            if await cursor.fetchone() is None:
                raise ActorExists(record.name, record.key)
            async with conn.cursor() as writes:
                await writes.executemany(self.pg.sql.set, rows)

    async def find_named(self, name: str, key: str) -> ActorRecord | None:
        """The stored actor (name, key), whichever node created it."""
        actor_id = await self._kv.get(_name_key(name, key))
        return None if actor_id is None else await self.load_record(actor_id.decode())

    async def index_names(self) -> None:
        """Give the actors stored before the (name, key) index their index key."""
        rows = [
            (_NAMESPACE, _name_key(r.name, r.key), r.actor_id.encode())
            for r in await self.load_records()
        ]
        if rows:
            async with self.pg.pool.connection() as conn, conn.cursor() as cursor:
                await cursor.executemany(self._claim_name, rows)

    async def load_record(self, actor_id: str) -> ActorRecord | None:
        raw = await self._kv.get(f"rec/{actor_id}".encode())
        return None if raw is None else ActorRecord(**unpack(raw))

    async def set_home(self, actor_id: str, node_id: str) -> None:
        """Record the node an actor is pinned to (it has node-local data)."""
        await self.writer(actor_id).set(f"home/{actor_id}".encode(), node_id.encode())

    async def homes(self) -> dict[str, str]:
        rows = await self._kv.list(b"home/")
        return {key[len(b"home/") :].decode(): value.decode() for key, value in rows}


def _name_key(name: str, key: str) -> bytes:
    return b"name/" + pack([name, key])
