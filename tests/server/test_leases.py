"""Actor leases in PostgreSQL: one owner at a time, tokens that fence stale owners.

A real throwaway PostgreSQL cluster (``tests/pgcluster.py``); several
``LeaseTable``s on one store stand for several nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from actorscope.engine.driver import Set
from actorscope.engine.postgres_driver import PostgresStore
from actorscope.server.leases import LeaseLost, LeaseTable

TTL_MS = 400


@pytest.fixture
async def store(postgres_dsn: str) -> AsyncIterator[PostgresStore]:
    async with await PostgresStore.open(postgres_dsn, max_size=6) as opened:
        await LeaseTable(opened, "setup", TTL_MS).create_tables()
        yield opened


async def _until_expired(table: LeaseTable, actor_id: str) -> None:
    for _ in range(200):
        if await table.owner(actor_id) is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the lease of {actor_id} never expired")


async def test_one_owner_until_the_lease_expires(store: PostgresStore) -> None:
    a, b = LeaseTable(store, "node-a", TTL_MS), LeaseTable(store, "node-b", TTL_MS)
    lease_a = await a.acquire("actor-1")
    assert lease_a is not None and lease_a.token == 1 and lease_a.node_id == "node-a"
    assert await b.acquire("actor-1") is None
    owner = await b.owner("actor-1")
    assert owner is not None and owner.node_id == "node-a"

    await _until_expired(b, "actor-1")
    lease_b = await b.acquire("actor-1")
    assert lease_b is not None and lease_b.token == 2
    # The old owner learns it lost the lease when it renews.
    assert await a.renew([lease_a]) == set()
    assert await b.renew([lease_b]) == {"actor-1"}


async def test_a_stale_owner_can_never_write_again(store: PostgresStore) -> None:
    a, b = LeaseTable(store, "node-a", TTL_MS), LeaseTable(store, "node-b", TTL_MS)
    lease_a = await a.acquire("actor-1")
    assert lease_a is not None
    driver_a = store.driver("wf/actor-1", fence=a.fence(lease_a))
    await driver_a.set(b"step", b"by a")

    await _until_expired(b, "actor-1")
    # Expired but not yet taken over: still refused (a paused node that wakes up).
    with pytest.raises(LeaseLost):
        await driver_a.set(b"step", b"late a")
    lease_b = await b.acquire("actor-1")
    assert lease_b is not None
    driver_b = store.driver("wf/actor-1", fence=b.fence(lease_b))
    await driver_b.batch([Set(b"step", b"by b"), Set(b"more", b"b")])
    with pytest.raises(LeaseLost):
        await driver_a.batch([Set(b"step", b"late a")])
    # Even re-acquiring does not revive the old grant: its token is spent.
    await b.release(lease_b)
    lease_a2 = await a.acquire("actor-1")
    assert lease_a2 is not None and lease_a2.token == 3
    with pytest.raises(LeaseLost):
        await driver_a.set(b"step", b"old token")
    assert dict(await store.driver("wf/actor-1").list(b"")) == {b"step": b"by b", b"more": b"b"}


async def test_a_takeover_waits_for_a_write_that_passed_its_fence(store: PostgresStore) -> None:
    a, b = LeaseTable(store, "node-a", 1500), LeaseTable(store, "node-b", 1500)
    lease_a = await a.acquire("actor-1")
    assert lease_a is not None
    committed = asyncio.Event()
    async with store.pool.connection() as conn:
        async with conn.transaction():
            await a.fence(lease_a)(conn)
            # The lease runs out while this write is still open; node b tries
            # to take over and must wait for it (the fence holds a share lock).
            await _until_expired(b, "actor-1")
            takeover = asyncio.create_task(b.acquire("actor-1"))
            await asyncio.sleep(0.3)
            assert not takeover.done()
            await conn.execute("INSERT INTO actorscope.kv (ns, key, value) VALUES ('wf', 'k', 'a')")
            committed.set()
        lease_b = await asyncio.wait_for(takeover, 30)
    assert committed.is_set()
    assert lease_b is not None and lease_b.token == 2


async def test_release_hands_over_at_once(store: PostgresStore) -> None:
    a, b = LeaseTable(store, "node-a", 60_000), LeaseTable(store, "node-b", 60_000)
    lease = await a.acquire("actor-1")
    assert lease is not None
    assert await b.acquire("actor-1") is None
    await a.release(lease)
    taken = await b.acquire("actor-1")
    assert taken is not None and taken.node_id == "node-b"


async def test_nodes_show_address_health_and_lease_count(store: PostgresStore) -> None:
    a, b = LeaseTable(store, "node-a", TTL_MS), LeaseTable(store, "node-b", TTL_MS)
    await a.heartbeat("http://127.0.0.1:1111")
    await b.heartbeat("http://127.0.0.1:2222")
    for actor in ("x", "y"):
        assert await a.acquire(actor) is not None
    nodes = {n.node_id: n for n in await a.nodes()}
    assert nodes["node-a"].address == "http://127.0.0.1:1111"
    assert nodes["node-a"].alive and nodes["node-a"].leases == 2
    assert nodes["node-b"].alive and nodes["node-b"].leases == 0
    await asyncio.sleep(TTL_MS / 1000 * 2)
    await b.heartbeat("http://127.0.0.1:2222")
    nodes = {n.node_id: n for n in await b.nodes()}
    assert not nodes["node-a"].alive and nodes["node-a"].leases == 0
    assert nodes["node-b"].alive
    await a.forget_node()
    assert [n.node_id for n in await b.nodes()] == ["node-b"]
    assert [lease.actor_id for lease in await b.leases()] == []


def test_ttl_must_be_positive(store: PostgresStore) -> None:
    with pytest.raises(ValueError, match="positive"):
        LeaseTable(store, "n", 0)


@contextlib.asynccontextmanager
async def _owner_paused_in_a_fenced_write(
    owner_store: PostgresStore, other_store: PostgresStore
) -> AsyncIterator[LeaseTable]:
    """Node A owns actor-1 and stopped (a SIGSTOP) inside a write that passed
    its fence, holding the share lock on its lease row; the lease has since
    expired. Yields node B's table, on its own store."""
    a, b = LeaseTable(owner_store, "node-a", TTL_MS), LeaseTable(other_store, "node-b", TTL_MS)
    lease_a = await a.acquire("actor-1")
    assert lease_a is not None
    fence = a.fence(lease_a)
    fenced = asyncio.Event()

    async def write() -> None:
        async with owner_store.pool.connection() as conn, conn.transaction():
            await fence(conn)
            fenced.set()
            await asyncio.sleep(60)  # no COMMIT comes

    task = asyncio.create_task(write())
    try:
        await fenced.wait()
        await _until_expired(b, "actor-1")
        yield b
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_an_owner_paused_inside_a_fenced_write_cannot_hold_a_takeover_back(
    postgres_dsn: str,
) -> None:
    # Node A's store as a cluster node opens it: sessions idle in a
    # transaction past the lease are ended by PostgreSQL, releasing the lock.
    async with (
        await PostgresStore.open(postgres_dsn, max_size=2, idle_in_transaction_ms=TTL_MS) as pa,
        await PostgresStore.open(postgres_dsn, max_size=2) as pb,
    ):
        await LeaseTable(pa, "setup", TTL_MS).create_tables()
        async with _owner_paused_in_a_fenced_write(pa, pb) as b:
            lease_b = await asyncio.wait_for(b.acquire("actor-1"), 10)
            assert lease_b is not None and lease_b.node_id == "node-b"


async def test_without_the_idle_timeout_a_paused_fenced_write_blocks_the_takeover(
    store: PostgresStore, postgres_dsn: str
) -> None:
    # The control for the test above: the share lock is what a takeover waits on.
    async with (
        await PostgresStore.open(postgres_dsn, max_size=2) as pb,
        _owner_paused_in_a_fenced_write(store, pb) as b,
    ):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.acquire("actor-1"), 3 * TTL_MS / 1000)
