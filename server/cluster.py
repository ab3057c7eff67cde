"""One node of a cluster: its leases, the takeover loop, and the drain.

Several ``actorscope serve --store postgresql://…`` processes share one
database. A ``ClusterNode`` is this process's part:

* **start**: create the ``nodes``/``leases`` tables, register the node and
  its advertised address (heartbeat), take over every actor no live lease
  covers, then tick every ``lease_ms / 3``.
* **tick**: heartbeat; renew the held leases; an actor whose lease came back
  lost is dropped (closed without writing: its fence refuses every write;
  its inspector sockets and client connections are closed so that they
  reconnect to the new owner); actors with no live lease are taken over,
  which opens them exactly as a restart does (workflow resumed from its
  history, alarm and queue wait re-armed; schedules started: fires the
  last owner left running closed as interrupted, missed runs fired once).
* **fence**: every write for an owned actor (the engine's and the schedule
  store's) runs the lease check of ``leases.py`` in its transaction; a
  ``LeaseLost`` there drops the actor.
* **drain** (SIGTERM): stop ticking, close owned actors cleanly, release
  their leases (another node takes them at its next tick, not after the
  expiry), forget the node.

Actors with an own database are pinned to their home node (``pg_store.py``):
no other node takes them over; a request for one that reaches another node
while its home is down is refused with 503 ``cluster.actor_pinned``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection, Connection

from actorscope.engine.postgres_driver import Fence, PostgresStore

from . import errors
from .actor import ActorInstance
from .directory import ActorSystem
from .forwarding import Forwarder
from .leases import Lease, LeaseLost, LeaseTable, NodeInfo
from .pg_schedule_store import PostgresScheduleStore
from .pg_store import PostgresActorStore
from .store import ActorRecord

__all__ = [
    "DEFAULT_LEASE_MS",
    "OWNED_ELSEWHERE",
    "ClusterNode",
    "actor_pinned",
    "not_owner",
    "owned_elsewhere",
]

log = logging.getLogger("actorscope.cluster")

#: Lease time when ``--lease-ms`` is not given: a dead node's actors move within about 4/3 of it.
DEFAULT_LEASE_MS = 10_000

#: The code of ``owned_elsewhere`` (group ``cluster``).
OWNED_ELSEWHERE = "owned_elsewhere"


def actor_pinned(actor_id: str, home: str) -> errors.InspectorError:
    return errors.InspectorError(
        503,
        "cluster",
        "actor_pinned",
        f"actor {actor_id} has a node-local database on node {home}, which is not running;"
        " it is never moved to another node (its data would be lost)",
    )


def owned_elsewhere(name: str, key: str) -> errors.InspectorError:
    """(name, key) was just created, or claimed, by another node.

    The router never shows it: it forwards the create to that node instead.
    """
    return errors.InspectorError(
        503,
        "cluster",
        OWNED_ELSEWHERE,
        f"the actor {name!r} with key {key!r} is owned by another node",
    )


def not_owner(actor_id: str) -> errors.InspectorError:
    return errors.InspectorError(
        503, "cluster", "owner_unavailable", f"no node can serve actor {actor_id} right now"
    )


class ClusterNode:
    """This process as a node of the cluster on ``pg``."""

    def __init__(
        self,
        pg: PostgresStore,
        data_dir: Any,
        *,
        node_id: str,
        dsn: str,
        lease_ms: int = DEFAULT_LEASE_MS,
    ) -> None:
        self.pg = pg
        self.node_id = node_id
        self.lease_ms = lease_ms
        self.leases = LeaseTable(pg, node_id, lease_ms)
        # The schedule store's own synchronous connection (pg_schedule_store.py).
        self.schedules = PostgresScheduleStore(
            dsn, pg.schema, fence=self.schedule_fence, idle_in_transaction_ms=lease_ms
        )
        self.store = PostgresActorStore(pg, data_dir, self.fence_of, self.schedules)
        self.forwarder = Forwarder(node_id)
        self.address = ""
        self.system: ActorSystem | None = None
        self.held: dict[str, Lease] = {}
        self.started_at_ms = int(time.time() * 1000)
        self.takeovers = 0
        self.leases_lost = 0
        self.last_tick_error: str | None = None
        # Sockets served here per actor, closed when the actor leaves (cluster_routing.py).
        self.sockets: dict[str, set[asyncio.Task[None]]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._tick_lock = asyncio.Lock()
        # Per actor: a claim and a drop of one actor never overlap (see claim).
        self._actor_locks: dict[str, asyncio.Lock] = {}

    # setup ----------------------------------------------------------------------

    async def prepare(self, system: ActorSystem, address: str) -> None:
        """Tables, first heartbeat; before any actor is created or opened."""
        self.system = system
        self.address = address
        system.placement = self
        await self.leases.create_tables()
        self.schedules.open()
        await self.store.index_names()
        await self.leases.heartbeat(address)

    async def start(self) -> None:
        """Take over what no one holds, then tick every lease/3."""
        await self.tick()
        self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        period = self.lease_ms / 3000
        while True:
            await asyncio.sleep(period)
            try:
                await self.tick()
                self.last_tick_error = None
            except Exception as exc:
                # The database may be away for a moment; leases not renewed in
                # time are lost and refused by the fence, which is the safe side.
                self.last_tick_error = f"{type(exc).__name__}: {exc}"
                log.warning("node %s: tick failed: %s", self.node_id, exc)

    # fencing --------------------------------------------------------------------

    def fence_of(self, actor_id: str) -> Fence:
        """The write check for ``actor_id``: the lease held when the driver was made."""
        lease = self.held.get(actor_id)
        if lease is None:
            return _refuse(actor_id, self.node_id)
        check = self.leases.fence(lease)

        async def fence(conn: AsyncConnection[Any]) -> None:
            try:
                await check(conn)
            except LeaseLost:
                self._lost_soon(actor_id, lease)
                raise

        return fence

    def schedule_fence(self, conn: Connection[Any], actor_id: str) -> None:
        """The write check of the schedule store: the lease held now, on its connection."""
        lease = self.held.get(actor_id)
        if lease is None:
            raise LeaseLost(actor_id, self.node_id)
        try:
            self.leases.check_sync(conn, lease)
        except LeaseLost:
            self._lost_soon(actor_id, lease)
            raise

    def _lost_soon(self, actor_id: str, lease: Lease) -> None:
        if self.held.get(actor_id) == lease:
            asyncio.get_running_loop().create_task(self._drop(actor_id, lease))

    # placement (directory.Placement) ------------------------------------------------

    async def place_new(self, record: ActorRecord) -> None:
        lease = await self.leases.acquire(record.actor_id)
        if lease is None:  # a fresh random id no one else can hold
            raise not_owner(record.actor_id)
        self.held[record.actor_id] = lease
        assert self.system is not None
        definition = self.system.registry.get(record.name)
        if definition is not None and definition.database is not None:
            await self.store.set_home(record.actor_id, self.node_id)

    async def open_placed(
        self, record: ActorRecord, opener: Callable[[ActorRecord], Awaitable[ActorInstance]]
    ) -> ActorInstance:
        """Open a new actor under its lock: a drop (its lease lost meanwhile) waits for it."""
        async with self._actor_lock(record.actor_id):
            return await opener(record)

    async def creation_lost(self, record: ActorRecord) -> errors.InspectorError:
        """Another node created (name, key) first: give the new id's lease back."""
        lease = self.held.pop(record.actor_id, None)
        if lease is not None:
            await self.leases.release(lease)
        return owned_elsewhere(record.name, record.key)

    async def claim_existing(self, name: str, key: str) -> ActorInstance | None:
        record = await self.store.find_named(name, key)
        if record is None:
            return None
        actor = await self.claim(record)
        if actor is None:
            raise owned_elsewhere(name, key)
        return actor

    def _actor_lock(self, actor_id: str) -> asyncio.Lock:
        return self._actor_locks.setdefault(actor_id, asyncio.Lock())

    async def claim(self, record: ActorRecord) -> ActorInstance | None:
        """Open ``record`` here if no node holds it; ``None`` if another does.

        Raises 503 ``cluster.actor_pinned`` for an actor pinned to another node.

        The tick's takeover and requests for the actor (routing, get-or-create)
        claim concurrently; under the actor's lock the second finds the first's
        instance. Without it both would take the lease (the second grant
        bumping the token) and open two instances running one workflow. The
        lock also makes a claim wait until a drop of the actor has closed the
        old instance, so nothing of it still runs beside the new one.
        """
        async with self._actor_lock(record.actor_id):
            return await self._claim(record)

    async def _claim(self, record: ActorRecord) -> ActorInstance | None:
        assert self.system is not None
        local = self.system.get(record.actor_id)
        if local is not None:
            return local
        holder = await self.leases.owner(record.actor_id)
        if holder is not None and holder.node_id != self.node_id:
            return None
        home = (await self.store.homes()).get(record.actor_id)
        if home is not None and home != self.node_id:
            raise actor_pinned(record.actor_id, home)
        if self.system.registry.get(record.name) is None:
            return None
        lease = await self.leases.acquire(record.actor_id)
        if lease is None:
            return None
        self.held[record.actor_id] = lease
        try:
            actor = await self.system.open_record(record)
        except BaseException:
            self.held.pop(record.actor_id, None)
            await self.leases.release(lease)
            raise
        self.takeovers += 1
        log.info(
            "node %s: took over actor %s (token %d)", self.node_id, record.actor_id, lease.token
        )
        return actor

    # the tick -------------------------------------------------------------------------

    async def tick(self) -> None:
        async with self._tick_lock:
            await self.leases.heartbeat(self.address)
            held = list(self.held.values())
            kept = await self.leases.renew(held)
            for lease in held:
                if lease.actor_id not in kept:
                    await self._drop(lease.actor_id, lease)
            await self._take_over()

    async def _take_over(self) -> None:
        assert self.system is not None
        live = {lease.actor_id for lease in await self.leases.leases()}
        homes = await self.store.homes()
        records = await self.store.load_records()
        for record in sorted(records, key=lambda r: (r.create_ts, r.actor_id)):
            if record.actor_id in live or record.actor_id in self.held:
                continue
            home = homes.get(record.actor_id)
            if home is not None and home != self.node_id:
                continue  # pinned elsewhere: waits for its home node
            try:
                await self.claim(record)
            except Exception:
                log.exception("node %s: taking over actor %s failed", self.node_id, record.actor_id)

    async def _drop(self, actor_id: str, lease: Lease) -> None:
        async with self._actor_lock(actor_id):
            if self.held.get(actor_id) != lease:
                return  # dropped already, or claimed again since
            self.held.pop(actor_id, None)
            self.leases_lost += 1
            log.warning("node %s: lost the lease of actor %s, dropping it", self.node_id, actor_id)
            for task in list(self.sockets.get(actor_id, ())):
                task.cancel()
            assert self.system is not None
            await self.system.drop(actor_id)

    # drain ------------------------------------------------------------------------------

    async def stop_ticking(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def release_all(self) -> None:
        """After the actors closed: hand their leases back and leave the cluster."""
        for lease in list(self.held.values()):
            with contextlib.suppress(Exception):
                await self.leases.release(lease)
        self.held.clear()
        with contextlib.suppress(Exception):
            await self.leases.forget_node()
        await self.forwarder.close()
        self.schedules.close()
        await self.pg.close()

    # views ------------------------------------------------------------------------------

    async def address_of(self, node_id: str) -> str | None:
        for node in await self.leases.nodes():
            if node.node_id == node_id:
                return node.address
        return None

    async def nodes_json(self) -> dict[str, Any]:
        nodes: list[NodeInfo] = await self.leases.nodes()
        leases = await self.leases.leases()
        return {
            "node": self.node_id,
            "leaseMs": self.lease_ms,
            "nodes": [
                {
                    "nodeId": n.node_id,
                    "address": n.address,
                    "startedAt": n.started_at_ms,
                    "heartbeatAt": n.heartbeat_at_ms,
                    "alive": n.alive,
                    "leases": n.leases,
                }
                for n in nodes
            ],
            "leases": [
                {
                    "actorId": lease.actor_id,
                    "nodeId": lease.node_id,
                    "token": lease.token,
                    "expiresAt": lease.expires_at_ms,
                }
                for lease in leases
            ],
            "metrics": {
                "takeovers": self.takeovers,
                "leasesLost": self.leases_lost,
                "held": len(self.held),
                "lastTickError": self.last_tick_error,
            },
        }

    async def actors_json(self, name: str | None) -> list[dict[str, Any]]:
        """Every actor of the cluster, with the node that owns it (``None``: no owner now)."""
        owners = {lease.actor_id: lease.node_id for lease in await self.leases.leases()}
        homes = await self.store.homes()
        out = []
        for record in sorted(
            await self.store.load_records(), key=lambda r: (r.create_ts, r.actor_id)
        ):
            if name is not None and record.name != name:
                continue
            item = record.public()
            item["node"] = owners.get(record.actor_id)
            if record.actor_id in homes:
                item["pinnedTo"] = homes[record.actor_id]
            out.append(item)
        return out


def _refuse(actor_id: str, node_id: str) -> Fence:
    async def refuse(conn: AsyncConnection[Any]) -> None:
        raise LeaseLost(actor_id, node_id)

    return refuse
