"""The schedule store contract, on both stores: the SQLite file and a cluster's PostgreSQL.

Every test runs on ``ScheduleStore`` (a real SQLite file) and on
``PostgresScheduleStore`` (the session's throwaway PostgreSQL). The fencing
test is PostgreSQL's alone: only a cluster has leases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from actorscope.engine.postgres_driver import PostgresStore
from actorscope.server.leases import LeaseLost, LeaseTable
from actorscope.server.pg_schedule_store import PostgresScheduleStore
from actorscope.server.schedule_store import (
    FireRecord,
    ScheduleRecord,
    ScheduleStorage,
    ScheduleStore,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        sqlite = ScheduleStore(tmp_path / "actorscope.sqlite")
        yield sqlite
        sqlite.close()
        return
    dsn = request.getfixturevalue("postgres_dsn")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA actorscope")
    pg = PostgresScheduleStore(dsn, "actorscope").open()
    yield pg
    pg.close()


def _schedule(sid: str, **changes: Any) -> ScheduleRecord:
    values: dict[str, Any] = {
        "actor_id": "a1",
        "id": sid,
        "name": sid,
        "kind": "every",
        "action": "tick",
        "args": b"\x90",
        "next_run_at": 1_000,
        "last_run_at": None,
        "expression": None,
        "timezone": None,
        "interval_ms": 500,
        "max_history": 100,
        "created_at": 1,
    }
    values.update(changes)
    return ScheduleRecord(**values)


def _running(scheduled_at: int) -> FireRecord:
    return FireRecord(0, "tick", scheduled_at, scheduled_at + 1, None, "running", None)


def test_put_load_get_and_replace_keep_fields_and_order(store: ScheduleStorage) -> None:
    assert store.load("a1") == []
    cron = _schedule(
        "b/cron", kind="cron", expression="*/5 * * * *", timezone="Europe/Berlin", interval_ms=None
    )
    one_shot = _schedule("A", name=None, kind="at", interval_ms=None, args=b"\x91\xa1x")
    store.put(cron)
    store.put(one_shot)
    store.put(_schedule("z", actor_id="other"))
    assert store.load("a1") == [one_shot, cron]  # ids in byte order
    assert isinstance(store, ScheduleStore | PostgresScheduleStore)
    assert store.get("a1", "b/cron") == cron
    assert store.get("a1", "missing") is None
    replaced = _schedule("b/cron", interval_ms=900, next_run_at=5)
    store.put(replaced)
    assert store.load("a1") == [one_shot, replaced]


def test_a_fire_advances_the_schedule_in_the_same_commit(store: ScheduleStorage) -> None:
    record = _schedule("tick")
    store.put(record)
    advanced = _schedule("tick", next_run_at=1_500, last_run_at=1_001)
    assert store.begin_fire(advanced, _running(1_000)) == 0
    assert store.load("a1") == [advanced]
    (fire,) = store.history("a1", "tick", 10)
    assert (fire.seq, fire.result, fire.finished_at) == (0, "running", None)
    assert fire.scheduled_at == 1_000
    store.finish_fire("a1", "tick", 0, finished_at=1_200, result="ok", error=None)
    again = _schedule("tick", next_run_at=2_000, last_run_at=1_501)
    assert store.begin_fire(again, _running(1_500)) == 1
    error = {"group": "user", "code": "boom", "message": "no", "metadata": {"k": [1]}}
    store.finish_fire("a1", "tick", 1, finished_at=1_600, result="error", error=error)
    fires = store.history("a1", "tick", 10)
    assert [(f.seq, f.result, f.finished_at, f.error) for f in fires] == [
        (0, "ok", 1_200, None),
        (1, "error", 1_600, error),
    ]
    assert [f.seq for f in store.history("a1", "tick", 1)] == [1]  # the newest, oldest first


def test_history_is_pruned_to_max_history(store: ScheduleStorage) -> None:
    store.put(_schedule("tick", max_history=3))
    for n in range(6):
        store.begin_fire(_schedule("tick", max_history=3, next_run_at=2_000 + n), _running(n))
    assert [f.seq for f in store.history("a1", "tick", 100)] == [3, 4, 5]


def test_fail_running_closes_only_running_fires_of_that_actor(store: ScheduleStorage) -> None:
    store.put(_schedule("tick"))
    store.put(_schedule("tick", actor_id="other"))
    store.begin_fire(_schedule("tick", next_run_at=1_500), _running(1_000))
    store.finish_fire("a1", "tick", 0, finished_at=1_100, result="ok", error=None)
    store.begin_fire(_schedule("tick", next_run_at=2_000), _running(1_500))
    store.begin_fire(_schedule("tick", actor_id="other", next_run_at=9), _running(1))
    error = {"group": "schedule", "code": "interrupted", "message": "stop", "metadata": None}
    assert store.fail_running("a1", finished_at=3_000, error=error) == 1
    assert [(f.result, f.error) for f in store.history("a1", "tick", 10)] == [
        ("ok", None),
        ("error", error),
    ]
    assert [f.result for f in store.history("other", "tick", 10)] == ["running"]
    assert store.fail_running("a1", finished_at=3_000, error=error) == 0


def test_delete_and_prune_finished_one_shots_drop_their_fires(store: ScheduleStorage) -> None:
    for n in range(4):
        sid = f"shot{n}"
        store.put(_schedule(sid, name=None, kind="at", interval_ms=None))
        finished = _schedule(
            sid, name=None, kind="at", interval_ms=None, next_run_at=None, last_run_at=100 + n
        )
        store.begin_fire(finished, _running(1_000))
    store.put(_schedule("keep"))
    store.prune_finished("a1", 2)
    assert [r.id for r in store.load("a1")] == ["keep", "shot2", "shot3"]
    assert store.history("a1", "shot0", 10) == []
    assert len(store.history("a1", "shot3", 10)) == 1
    assert store.delete("a1", "shot3") is True
    assert store.history("a1", "shot3", 10) == []
    assert store.delete("a1", "shot3") is False
    assert [r.id for r in store.load("a1")] == ["keep", "shot2"]


async def test_postgres_schedule_writes_are_fenced_by_the_lease(postgres_dsn: str) -> None:
    pg = await PostgresStore.open(postgres_dsn)
    try:
        mine, theirs = LeaseTable(pg, "n1", 60_000), LeaseTable(pg, "n2", 60_000)
        await mine.create_tables()
        lease = await mine.acquire("a1")
        assert lease is not None

        def fence(conn: psycopg.Connection[Any], actor_id: str) -> None:
            assert actor_id == "a1"
            mine.check_sync(conn, lease)

        store = PostgresScheduleStore(postgres_dsn, pg.schema, fence=fence).open()
        try:
            store.put(_schedule("tick"))
            store.begin_fire(_schedule("tick", next_run_at=1_500), _running(1_000))
            # The lease ends (as an expiry would) and another node takes the actor.
            await mine.release(lease)
            assert await theirs.acquire("a1") is not None
            error = {"group": "schedule", "code": "interrupted", "message": "m", "metadata": None}
            refused = [
                lambda: store.put(_schedule("tick", next_run_at=1)),
                lambda: store.begin_fire(_schedule("tick", next_run_at=2_000), _running(1_500)),
                lambda: store.finish_fire("a1", "tick", 0, finished_at=9, result="ok", error=None),
                lambda: store.fail_running("a1", finished_at=9, error=error),
                lambda: store.delete("a1", "tick"),
                lambda: store.prune_finished("a1", 0),
            ]
            for write in refused:
                with pytest.raises(LeaseLost):
                    write()
            # Nothing of the refused writes landed; reads still work.
            assert store.load("a1") == [_schedule("tick", next_run_at=1_500)]
            (fire,) = store.history("a1", "tick", 10)
            assert fire.result == "running"
        finally:
            store.close()
    finally:
        await pg.close()


async def test_a_lone_pool_statement_holds_no_lock_while_the_loop_is_blocked(
    postgres_dsn: str,
) -> None:
    # The schedule store's synchronous fence may block the event loop on a
    # lease row; a lease statement of the same process must not hold that
    # row locked until the (blocked) loop sends a COMMIT.
    pg = await PostgresStore.open(postgres_dsn)
    try:
        leases = LeaseTable(pg, "n1", 60_000)
        await leases.create_tables()
        assert await leases.acquire("a1") is not None
        async with pg.pool.connection() as conn:
            await conn.execute(
                "UPDATE actorscope.leases SET expires_at = expires_at WHERE actor_id = 'a1'"
            )
            with psycopg.connect(postgres_dsn, autocommit=True) as sync:
                sync.execute("SET lock_timeout = 2000")
                row = sync.execute(
                    "SELECT 1 FROM actorscope.leases WHERE actor_id = 'a1' FOR SHARE"
                ).fetchone()
            assert row == (1,)
    finally:
        await pg.close()
