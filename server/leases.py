"""Who owns which actor, decided by PostgreSQL: nodes, leases and fencing tokens.

Several ``actorscope serve`` processes (nodes) share one database. Each actor
is owned by at most one node at a time through a row in ``leases``:

    nodes(node_id TEXT PRIMARY KEY, address TEXT, started_at, heartbeat_at)
    leases(actor_id TEXT PRIMARY KEY, node_id TEXT, token BIGINT, expires_at)

* **Acquire** inserts the row, or takes it over when it has expired (or the
  node already holds it), and always increments ``token``: every grant of an
  actor has a token larger than every earlier grant.
* **Renew** pushes ``expires_at`` out for the leases a node still holds with
  the token it was granted; a lease that comes back missing was lost (it
  expired and another node took it) and the node must drop the actor.
* **Fence**: every write a node makes for an actor runs, inside the same
  transaction, ``SELECT … FROM leases WHERE actor_id = … AND node_id = … AND
  token = … AND expires_at > now() FOR SHARE``. A node that was paused,
  partitioned or slow past its expiry finds no row and its write fails
  (``LeaseLost``); the share lock also makes a takeover wait until a write
  that passed the check has committed, so writes of two owners never
  interleave.

All times are the database's (``now()``, ``clock_timestamp()``), so the
nodes' clocks do not need to agree.
"""

from __future__ import annotations

from typing import Any

import attrs
from psycopg import AsyncConnection, Connection, sql

from actorscope.engine.postgres_driver import Fence, PostgresStore

from .errors import OwnershipLost

__all__ = ["Lease", "LeaseLost", "LeaseTable", "NodeInfo"]


class LeaseLost(OwnershipLost):
    """This node no longer holds the actor's lease: the write was refused."""

    def __init__(self, actor_id: str, node_id: str) -> None:
        super().__init__(f"node {node_id} no longer holds the lease of actor {actor_id}")
        self.actor_id = actor_id
        self.node_id = node_id


@attrs.frozen
class Lease:
    actor_id: str
    node_id: str
    token: int
    expires_at_ms: int


@attrs.frozen
class NodeInfo:
    node_id: str
    address: str
    started_at_ms: int
    heartbeat_at_ms: int
    alive: bool
    leases: int


_MS = "(extract(epoch from {col}) * 1000)::bigint"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {schema}.nodes ("
    " node_id TEXT PRIMARY KEY, address TEXT NOT NULL,"
    " started_at TIMESTAMPTZ NOT NULL, heartbeat_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.leases ("
    " actor_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, token BIGINT NOT NULL,"
    " expires_at TIMESTAMPTZ NOT NULL)",
)


class LeaseTable:
    """The ``nodes`` and ``leases`` tables of one store, for one node.

    Args:
        store: the PostgreSQL store every node shares.
        node_id: this node's id (unique per process).
        ttl_ms: how long a grant or renewal lasts.
    """

    def __init__(self, store: PostgresStore, node_id: str, ttl_ms: int) -> None:
        if ttl_ms <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl_ms} ms")
        self.store = store
        self.node_id = node_id
        self.ttl_ms = ttl_ms
        s = sql.Identifier(store.schema)

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(schema=s)

        self._create = [q(text) for text in _SCHEMA]
        ttl = "clock_timestamp() + make_interval(secs => %(ttl)s / 1000.0)"
        expires = _MS.format(col="expires_at")
        self._acquire = q(
            "INSERT INTO {schema}.leases AS l (actor_id, node_id, token, expires_at)"
            f" VALUES (%(actor)s, %(node)s, 1, {ttl})"
            " ON CONFLICT (actor_id) DO UPDATE SET node_id = EXCLUDED.node_id,"
            " token = l.token + 1, expires_at = EXCLUDED.expires_at"
            " WHERE l.expires_at <= clock_timestamp() OR l.node_id = EXCLUDED.node_id"
            f" RETURNING token, {expires}"
        )
        self._renew = q(
            f"UPDATE {{schema}}.leases SET expires_at = {ttl}"
            " WHERE node_id = %(node)s AND expires_at > clock_timestamp()"
            " AND (actor_id, token) IN"
            " (SELECT * FROM unnest(%(actors)s::text[], %(tokens)s::bigint[]))"
            " RETURNING actor_id"
        )
        # Released leases are expired, never deleted: the row keeps the token
        # counter, so the next grant's token is still larger than every
        # earlier one (a deleted row would restart at 1 and revive old fences).
        self._release = q(
            "UPDATE {schema}.leases SET expires_at = '-infinity'"
            " WHERE actor_id = %(actor)s AND node_id = %(node)s AND token = %(token)s"
        )
        self._fence = q(
            "SELECT 1 FROM {schema}.leases WHERE actor_id = %(actor)s AND node_id = %(node)s"
            " AND token = %(token)s AND expires_at > clock_timestamp() FOR SHARE"
        )
        self._owner = q(
            f"SELECT actor_id, node_id, token, {expires} FROM {{schema}}.leases"
            " WHERE actor_id = %(actor)s AND expires_at > clock_timestamp()"
        )
        self._all = q(
            f"SELECT actor_id, node_id, token, {expires} FROM {{schema}}.leases"
            " WHERE expires_at > clock_timestamp() ORDER BY actor_id"
        )
        self._heartbeat = q(
            "INSERT INTO {schema}.nodes (node_id, address, started_at, heartbeat_at)"
            " VALUES (%(node)s, %(address)s, clock_timestamp(), clock_timestamp())"
            " ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address,"
            " heartbeat_at = EXCLUDED.heartbeat_at"
        )
        self._nodes = q(
            f"SELECT n.node_id, n.address, {_MS.format(col='n.started_at')},"
            f" {_MS.format(col='n.heartbeat_at')},"
            " n.heartbeat_at > clock_timestamp() - make_interval(secs => %(ttl)s / 1000.0),"
            " (SELECT count(*) FROM {schema}.leases l WHERE l.node_id = n.node_id"
            "  AND l.expires_at > clock_timestamp())"
            " FROM {schema}.nodes n ORDER BY n.node_id"
        )
        self._forget = q("DELETE FROM {schema}.nodes WHERE node_id = %(node)s")

    async def create_tables(self) -> None:
        async with self.store.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (self.store.schema + ".leases",)
            )
            for statement in self._create:
                await conn.execute(statement)

    # -- this node's leases --------------------------------------------------------

    async def acquire(self, actor_id: str) -> Lease | None:
        """Take the lease of ``actor_id``; ``None`` while another node holds it."""
        params = {"actor": actor_id, "node": self.node_id, "ttl": self.ttl_ms}
        async with self.store.pool.connection() as conn:
            cursor = await conn.execute(self._acquire, params)
            row = await cursor.fetchone()
        return None if row is None else Lease(actor_id, self.node_id, int(row[0]), int(row[1]))

    async def renew(self, leases: list[Lease]) -> set[str]:
        """Extend ``leases``; returns the ids of those still held (the rest are lost)."""
        if not leases:
            return set()
        params = {
            "node": self.node_id,
            "ttl": self.ttl_ms,
            "actors": [lease.actor_id for lease in leases],
            "tokens": [lease.token for lease in leases],
        }
        async with self.store.pool.connection() as conn:
            cursor = await conn.execute(self._renew, params)
            return {row[0] for row in await cursor.fetchall()}

    async def release(self, lease: Lease) -> None:
        """Give the lease up (on drain), so another node can take it at once."""
        params = {"actor": lease.actor_id, "node": self.node_id, "token": lease.token}
        async with self.store.pool.connection() as conn:
            await conn.execute(self._release, params)

    def fence(self, lease: Lease) -> Fence:
        """The check every write for ``lease.actor_id`` runs in its transaction."""
        params = {"actor": lease.actor_id, "node": self.node_id, "token": lease.token}
        statement = self._fence

        async def check(conn: AsyncConnection[Any]) -> None:
            cursor = await conn.execute(statement, params)
            if await cursor.fetchone() is None:
                raise LeaseLost(lease.actor_id, lease.node_id)

        return check

    def check_sync(self, conn: Connection[Any], lease: Lease) -> None:
        """The same check on a synchronous connection (the schedule store's)."""
        params = {"actor": lease.actor_id, "node": self.node_id, "token": lease.token}
        if conn.execute(self._fence, params).fetchone() is None:
            raise LeaseLost(lease.actor_id, lease.node_id)

    # -- the cluster -------------------------------------------------------------------

    async def owner(self, actor_id: str) -> Lease | None:
        """The live lease of ``actor_id``, whoever holds it."""
        async with self.store.pool.connection() as conn:
            cursor = await conn.execute(self._owner, {"actor": actor_id})
            row = await cursor.fetchone()
        return None if row is None else Lease(row[0], row[1], int(row[2]), int(row[3]))

    async def leases(self) -> list[Lease]:
        async with self.store.pool.connection() as conn:
            cursor = await conn.execute(self._all)
            rows = await cursor.fetchall()
        return [Lease(r[0], r[1], int(r[2]), int(r[3])) for r in rows]

    async def heartbeat(self, address: str) -> None:
        """Register (or refresh) this node and the address other nodes forward to."""
        async with self.store.pool.connection() as conn:
            await conn.execute(self._heartbeat, {"node": self.node_id, "address": address})

    async def nodes(self) -> list[NodeInfo]:
        async with self.store.pool.connection() as conn:
            cursor = await conn.execute(self._nodes, {"ttl": self.ttl_ms})
            rows = await cursor.fetchall()
        return [NodeInfo(r[0], r[1], int(r[2]), int(r[3]), bool(r[4]), int(r[5])) for r in rows]

    async def forget_node(self) -> None:
        """Remove this node from ``nodes`` (after a drain)."""
        async with self.store.pool.connection() as conn:
            await conn.execute(self._forget, {"node": self.node_id})
