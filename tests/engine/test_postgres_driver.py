"""What only the PostgreSQL driver does: a shared database, fences, concurrent writers.

The conformance suite (``test_drivers.py``) runs every behaviour on this
driver too; these tests cover the database around it, on a real throwaway
cluster (``tests/pgcluster.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from actorscope.engine.driver import Delete, Linked, Set, SnapshotReads
from actorscope.engine.postgres_driver import PostgresStore


class Refused(Exception):
    pass


async def test_namespaces_share_the_database_but_not_keys(postgres_dsn: str) -> None:
    async with await PostgresStore.open(postgres_dsn) as store:
        a, b = store.driver("wf/a"), store.driver("wf/b")
        await a.batch([Set(b"k", b"a"), Set(b"x", b"1")])
        await b.set(b"k", b"b")
        await a.set_alarm(10)
        assert await a.list(b"") == [(b"k", b"a"), (b"x", b"1")]
        assert await b.list(b"") == [(b"k", b"b")]
        assert await b.get_alarm() is None
        await a.delete_prefix(b"")
        assert await b.get(b"k") == b"b"


async def test_data_outlives_the_store(postgres_dsn: str) -> None:
    async with await PostgresStore.open(postgres_dsn) as store:
        await store.driver("wf").batch([Set(b"e/1", b"one"), Set(b"e/2", b"two")])
        await store.driver("wf").set_alarm(42)
    async with await PostgresStore.open(postgres_dsn) as store:
        assert await store.driver("wf").list(b"e/") == [(b"e/1", b"one"), (b"e/2", b"two")]
        assert await store.driver("wf").get_alarm() == 42


async def test_two_stores_open_one_fresh_database_concurrently(postgres_dsn: str) -> None:
    # Several nodes starting at once all create the schema; none may fail.
    stores = await asyncio.gather(*(PostgresStore.open(postgres_dsn) for _ in range(4)))
    try:
        await stores[0].driver("wf").set(b"k", b"v")
        assert await stores[3].driver("wf").get(b"k") == b"v"
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_a_fence_that_refuses_stops_the_whole_write(postgres_dsn: str) -> None:
    allowed = True

    async def fence(conn: psycopg.AsyncConnection[Any]) -> None:
        if not allowed:
            raise Refused("lease lost")

    async with await PostgresStore.open(postgres_dsn) as store:
        fenced = store.driver("wf", fence=fence)
        await fenced.batch([Set(b"k", b"1")])
        allowed = False
        for write in (
            fenced.batch([Set(b"k", b"2"), Set(b"other", b"x")]),
            fenced.set(b"k", b"3"),
            fenced.delete(b"k"),
            fenced.set_alarm(5),
        ):
            with pytest.raises(Refused):
                await write
        assert await store.driver("wf").list(b"") == [(b"k", b"1")]
        assert await store.driver("wf").get_alarm() is None


async def test_a_fence_reads_in_the_write_transaction(postgres_dsn: str) -> None:
    # The fence sees the database inside the same transaction as the write, so
    # a check of a lease row and the write it guards commit together.
    async with await PostgresStore.open(postgres_dsn) as store:
        async with store.pool.connection() as conn:
            await conn.execute("CREATE TABLE lease (holder TEXT)")
            await conn.execute("INSERT INTO lease VALUES ('node-a')")

        def holder_must_be(node: str) -> Any:
            async def fence(conn: psycopg.AsyncConnection[Any]) -> None:
                cursor = await conn.execute("SELECT holder FROM lease FOR SHARE")
                row = await cursor.fetchone()
                if row is None or row[0] != node:
                    raise Refused(f"{node} does not hold the lease")

            return fence

        a = store.driver("wf", fence=holder_must_be("node-a"))
        b = store.driver("wf", fence=holder_must_be("node-b"))
        await a.set(b"k", b"from a")
        with pytest.raises(Refused):
            await b.set(b"k", b"from b")
        async with store.pool.connection() as conn:
            await conn.execute("UPDATE lease SET holder = 'node-b'")
        with pytest.raises(Refused):
            await a.set(b"k", b"late a")
        await b.set(b"k", b"from b")
        assert await a.get(b"k") == b"from b"


async def test_a_batch_failing_inside_the_database_rolls_back(postgres_dsn: str) -> None:
    async with await PostgresStore.open(postgres_dsn) as store:
        driver = store.driver("wf")
        await driver.set(b"keep", b"1")
        # A NUL byte cannot go into a TEXT column: the namespace makes the
        # database itself fail after the first statements of the batch ran.
        broken = store.driver("bad\x00ns")
        with pytest.raises(psycopg.Error):
            await broken.batch([Set(b"a", b"1"), Delete(b"b")])
        assert await driver.list(b"") == [(b"keep", b"1")]
        await driver.batch([Set(b"new", b"2"), Delete(b"keep")])
        assert await driver.list(b"") == [(b"new", b"2")]


async def test_concurrent_batches_are_each_all_or_nothing(postgres_dsn: str) -> None:
    async with await PostgresStore.open(postgres_dsn, max_size=4) as store:
        driver = store.driver("wf")

        async def writer(n: int) -> None:
            for i in range(20):
                await driver.batch([Set(b"w%d" % n, b"%d" % i), Set(b"v%d" % n, b"%d" % i)])

        await asyncio.gather(*(writer(n) for n in range(6)))
        rows = dict(await driver.list(b""))
        for n in range(6):
            assert rows[b"w%d" % n] == rows[b"v%d" % n] == b"19"


async def test_snapshot_reads_see_one_committed_state(postgres_dsn: str) -> None:
    async with await PostgresStore.open(postgres_dsn) as store:
        driver = store.driver("wf")
        assert isinstance(driver, SnapshotReads)
        await driver.batch([Set(b"e/1", b"one"), Set(b"ver", b"1")])
        async with driver.snapshot() as reads:
            assert await reads.list(b"e/") == [(b"e/1", b"one")]
            # A write that commits between two reads of the snapshot...
            await driver.batch([Set(b"e/2", b"two"), Set(b"ver", b"2")])
            # ...is not seen by the later ones: they read the same state.
            assert await reads.get(b"ver") == b"1"
            assert await reads.list(b"e/") == [(b"e/1", b"one")]
        assert await driver.get(b"ver") == b"2"


async def test_unreachable_database_is_a_clear_error(postgres_cluster: Any) -> None:
    dsn = postgres_cluster.dsn("no_such_database")
    with pytest.raises(psycopg.OperationalError, match="no_such_database"):
        await PostgresStore.open(dsn)


async def test_linked_ops_commit_with_the_batch_or_not_at_all(postgres_dsn: str) -> None:
    async with (
        await PostgresStore.open(postgres_dsn) as store,
        await PostgresStore.open(postgres_dsn, schema="elsewhere") as other_store,
    ):
        history, audit = store.driver("wf/a"), store.driver("audit/a")
        await history.batch([Set(b"k", b"1"), Linked(audit, [Set(b"r/1", b"rec"), Delete(b"x")])])
        assert (await history.get(b"k"), await audit.get(b"r/1")) == (b"1", b"rec")
        # A driver of another store cannot join the transaction: refused up front.
        with pytest.raises(ValueError, match="cannot link"):
            await history.batch(
                [Set(b"k", b"2"), Linked(other_store.driver("n"), [Set(b"k", b"2")])]
            )
        with pytest.raises(TypeError):
            await history.batch([Set(b"k", b"3"), Linked(audit, [Set(b"r/2", "not bytes")])])  # type: ignore[list-item]
        assert (await history.get(b"k"), await audit.list(b"r/")) == (b"1", [(b"r/1", b"rec")])


async def test_a_linked_drivers_fence_guards_the_batch_too(postgres_dsn: str) -> None:
    async def refuse(conn: psycopg.AsyncConnection[Any]) -> None:
        raise Refused("the audit's owner moved")

    async with await PostgresStore.open(postgres_dsn) as store:
        history, audit = store.driver("wf/a"), store.driver("audit/a", fence=refuse)
        with pytest.raises(Refused):
            await history.batch([Set(b"k", b"1"), Linked(audit, [Set(b"r/1", b"rec")])])
        assert await history.get(b"k") is None
