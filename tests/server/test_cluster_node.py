"""One cluster node in process, on a real throwaway PostgreSQL: claims and drops.

The node's tick (taking over actors no lease covers) and the requests for an
actor (routing, get-or-create) claim actors concurrently; here they are
raced directly, without sockets, so that the interleaving is forced.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from actorscope.engine import WorkflowContext
from actorscope.engine.executor import load_history
from actorscope.engine.postgres_driver import PostgresStore
from actorscope.server.actor import ActorInstance
from actorscope.server.cluster import ClusterNode
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.directory import ActorSystem
from actorscope.server.store import ActorRecord

STEPS = 5


class Counted:
    """How often each step of the workflow ran, over every instance of the actor."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.done = asyncio.Event()
        self.gate = asyncio.Event()
        self.at_gate = asyncio.Event()


@pytest.fixture
async def node(postgres_dsn: str, tmp_path: Path) -> AsyncIterator[tuple[ClusterNode, Counted]]:
    counted = Counted()

    async def flow(wf: WorkflowContext, _actor: ActorContext) -> None:
        for i in range(STEPS):

            async def step(i: int = i) -> int:
                counted.runs.append(f"s{i}")
                await asyncio.sleep(0.01)
                return i

            await wf.step(f"s{i}", step)
        counted.done.set()
        await wf.sleep("rest", 3600)

    async def gated(wf: WorkflowContext, _actor: ActorContext) -> None:
        async def wait() -> str:
            counted.runs.append("wait")
            counted.at_gate.set()
            await counted.gate.wait()
            return "opened"

        await wf.step("wait", wait)
        await wf.step("after", lambda: counted.runs.append("after"))
        counted.done.set()
        await wf.sleep("rest", 3600)

    registry = Registry(
        [
            ActorDefinition("flow", {"n": 0}, {}, flow),
            ActorDefinition("gated", {"n": 0}, {}, gated),
        ]
    )
    pg = await PostgresStore.open(postgres_dsn)
    cluster = ClusterNode(pg, tmp_path / "data", node_id="n1", dsn=postgres_dsn, lease_ms=60_000)
    system = ActorSystem(registry, cluster.store, server_token="t" * 32)
    await cluster.prepare(system, "http://127.0.0.1:1")
    try:
        yield cluster, counted
    finally:
        await system.stop()
        await cluster.release_all()


async def _stored(cluster: ClusterNode, name: str = "flow") -> ActorRecord:
    """An actor record in the database that no node owns (its owner died)."""
    record = ActorRecord(
        actor_id=secrets.token_hex(10),
        name=name,
        key="k",
        create_ts=int(time.time() * 1000),
        token=secrets.token_hex(24),
    )
    lease = await cluster.leases.acquire(record.actor_id)
    assert lease is not None
    cluster.held[record.actor_id] = lease
    await cluster.store.create(record, {"n": 0})
    del cluster.held[record.actor_id]
    await cluster.leases.release(lease)
    return record


async def test_concurrent_claims_open_one_instance(node: Any) -> None:
    cluster, counted = node
    record = await _stored(cluster)
    # The tick's takeover and two requests, all at once.
    claimed = await asyncio.gather(*(cluster.claim(record) for _ in range(3)))
    assert claimed[0] is not None
    assert all(actor is claimed[0] for actor in claimed)
    assert cluster.system.get(record.actor_id) is claimed[0]
    await asyncio.wait_for(counted.done.wait(), 60)
    # One instance ran the workflow: every step once, and it still holds the lease.
    assert counted.runs == [f"s{i}" for i in range(STEPS)]
    driver = cluster.store.workflow_driver(record.actor_id)
    for _ in range(600):  # the sleep entry follows the last step
        if len((await load_history(driver)).entries) == STEPS + 1:
            break
        await asyncio.sleep(0.05)
    history = await load_history(driver)
    assert [history.path(e.id) for e in history.entries] == [
        *(f"s{i}" for i in range(STEPS)),
        "rest",
    ]
    owner = await cluster.leases.owner(record.actor_id)
    assert owner is not None and owner == cluster.held[record.actor_id]


async def test_a_claim_waits_for_the_drop_of_the_old_instance(node: Any) -> None:
    cluster, counted = node
    record = await _stored(cluster)
    first = await cluster.claim(record)
    assert first is not None
    await asyncio.wait_for(counted.done.wait(), 60)
    lease = cluster.held[record.actor_id]
    closed = asyncio.Event()
    close = first.close

    async def slow_close() -> None:
        await asyncio.sleep(0.2)
        await close()
        closed.set()

    first.close = slow_close  # type: ignore[method-assign]
    await cluster.leases.release(lease)  # as if it expired under load
    dropping = asyncio.ensure_future(cluster._drop(record.actor_id, lease))
    await asyncio.sleep(0)
    second = await cluster.claim(record)
    # The new instance opened only after the old one was closed.
    assert closed.is_set()
    assert second is not None and second is not first
    await dropping
    assert cluster.system.get(record.actor_id) is second
    # It resumed the recorded history (its first run ends at the sleep): no step ran again.
    assert second.workflow is not None
    runner = second.workflow.runner
    for _ in range(600):
        if runner.last_result is not None:
            break
        await asyncio.sleep(0.05)
    assert runner.last_result is not None and runner.last_result.state == "sleeping"
    assert counted.runs == [f"s{i}" for i in range(STEPS)]


async def test_a_workflow_survives_the_database_dropping_its_connections(
    node: Any, postgres_dsn: str
) -> None:
    cluster, counted = node
    record = await _stored(cluster, "gated")
    actor = await cluster.claim(record)
    assert actor is not None
    await asyncio.wait_for(counted.at_gate.wait(), 60)
    # Every connection of the node's pool is cut (a database restart, a
    # network blip) while a step runs: the step's write fails.
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )
    counted.gate.set()
    # The node still owns the actor, so its workflow must not stay stopped:
    # the run is tried again from the history, as a restart would.
    await asyncio.wait_for(counted.done.wait(), 60)
    driver = cluster.store.workflow_driver(record.actor_id)
    history = await load_history(driver)
    paths = [history.path(e.id) for e in history.entries]
    assert paths[:2] == ["wait", "after"]
    assert all(history.entry_metadata[e.id].error is None for e in history.entries)
    assert history.workflow.state != "failed"
    # The step whose write was lost ran again (at least once, as after a crash).
    assert counted.runs == ["wait", "wait", "after"]


async def test_a_drop_waits_for_the_open_of_a_new_actor(node: Any, monkeypatch: Any) -> None:
    cluster, counted = node
    system = cluster.system
    opening = asyncio.Event()
    finish_open = asyncio.Event()
    real_open = ActorInstance.open

    async def slow_open(self: ActorInstance) -> None:
        opening.set()
        await finish_open.wait()
        await real_open(self)

    monkeypatch.setattr(ActorInstance, "open", slow_open)
    creating = asyncio.ensure_future(system.get_or_create("flow", "new"))
    await asyncio.wait_for(opening.wait(), 60)
    # Its lease is lost while it opens (a late renewal under load).
    actor_id = next(iter(cluster.held))
    lease = cluster.held[actor_id]
    dropping = asyncio.ensure_future(cluster._drop(actor_id, lease))
    await asyncio.sleep(0.05)
    assert not dropping.done()  # waits for the open
    finish_open.set()
    actor = await asyncio.wait_for(creating, 60)
    await asyncio.wait_for(dropping, 60)
    # Dropped whole, not half-open: gone here, and the takeover reopens it.
    assert system.get(actor_id) is None
    monkeypatch.setattr(ActorInstance, "open", real_open)
    record = await cluster.store.load_record(actor_id)
    assert record is not None
    again = await cluster.claim(record)
    assert again is not None and again is not actor
    await asyncio.wait_for(counted.done.wait(), 60)
