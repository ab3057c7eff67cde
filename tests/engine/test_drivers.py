"""Conformance suite for the storage drivers (ENGINE.md "Storage").

Every behavioural test runs against :class:`MemoryDriver`,
:class:`SQLiteDriver` and :class:`PostgresDriver` (on a throwaway PostgreSQL
cluster, ``tests/pgcluster.py``); SQLite-only and PostgreSQL-only tests cover
what only a database can do (namespaces sharing one store, persistence
across reopen, rollback of a batch that fails inside the database, fences).
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorscope.engine.driver import (
    BatchOp,
    Delete,
    DeletePrefix,
    DeleteRange,
    Driver,
    Set,
    SetAlarm,
    prefix_successor,
)
from actorscope.engine.memory_driver import MemoryDriver
from actorscope.engine.postgres_driver import PostgresStore
from actorscope.engine.sqlite_driver import SQLiteDriver

DriverFactory = Callable[[], Driver]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Driver]:
    if request.param == "memory":
        yield MemoryDriver()
        return
    if request.param == "postgres":
        store = await PostgresStore.open(request.getfixturevalue("postgres_dsn"))
        yield store.driver("wf-1")
        await store.close()
        return
    sqlite_driver = SQLiteDriver(tmp_path / "wf.db", "wf-1")
    yield sqlite_driver
    sqlite_driver.close()


# -- prefix_successor ------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"", None),
        (b"a", b"b"),
        (b"a\x00", b"a\x01"),
        (b"a\xff", b"b"),
        (b"a\xff\xff", b"b"),
        (b"\xff", None),
        (b"\xff\xff", None),
        (b"\x01\xfe", b"\x01\xff"),
    ],
)
def test_prefix_successor(prefix: bytes, expected: bytes | None) -> None:
    assert prefix_successor(prefix) == expected


# -- conformance -----------------------------------------------------------


async def test_satisfies_protocol(driver: Driver) -> None:
    assert isinstance(driver, Driver)


async def test_get_set_delete(driver: Driver) -> None:
    assert await driver.get(b"k") is None
    await driver.set(b"k", b"v1")
    assert await driver.get(b"k") == b"v1"
    await driver.set(b"k", b"v2")
    assert await driver.get(b"k") == b"v2"
    await driver.delete(b"k")
    assert await driver.get(b"k") is None
    await driver.delete(b"k")  # deleting a missing key is fine
    assert await driver.list(b"") == []


async def test_empty_value_is_not_missing(driver: Driver) -> None:
    await driver.set(b"k", b"")
    assert await driver.get(b"k") == b""
    assert await driver.list(b"k") == [(b"k", b"")]


async def test_list_sorted_by_unsigned_key_bytes(driver: Driver) -> None:
    keys = [b"b", b"\xff", b"a\x00", b"a", b"\x00", b"a\xff", b"ab", b"\x7f", b"\x80"]
    for i, key in enumerate(keys):
        await driver.set(key, bytes([i]))
    listed = await driver.list(b"")
    assert [k for k, _ in listed] == sorted(keys)
    assert [k for k, _ in listed] == [
        b"\x00", b"a", b"a\x00", b"ab", b"a\xff", b"b", b"\x7f", b"\x80", b"\xff",
    ]  # fmt: skip
    assert dict(listed) == {key: bytes([i]) for i, key in enumerate(keys)}


async def test_list_prefix_bounds(driver: Driver) -> None:
    for key in [b"a", b"ab", b"abc", b"ab\xff", b"ab\xff\x00", b"ac", b"b", b"aa\xff"]:
        await driver.set(key, key)
    assert [k for k, _ in await driver.list(b"ab")] == [b"ab", b"abc", b"ab\xff", b"ab\xff\x00"]
    assert [k for k, _ in await driver.list(b"ab\xff")] == [b"ab\xff", b"ab\xff\x00"]
    assert [k for k, _ in await driver.list(b"a")] == [
        b"a", b"aa\xff", b"ab", b"abc", b"ab\xff", b"ab\xff\x00", b"ac",
    ]  # fmt: skip
    assert await driver.list(b"zz") == []
    assert await driver.list(b"abcd") == []


async def test_list_prefix_of_ff_bytes(driver: Driver) -> None:
    # A prefix made only of 0xff has no successor: the range is open-ended.
    for key in [b"\xfe", b"\xfe\xff", b"\xff", b"\xff\x00", b"\xff\xff", b"\xff\xff\xff"]:
        await driver.set(key, b"")
    assert [k for k, _ in await driver.list(b"\xff")] == [
        b"\xff", b"\xff\x00", b"\xff\xff", b"\xff\xff\xff",
    ]  # fmt: skip
    assert [k for k, _ in await driver.list(b"\xff\xff")] == [b"\xff\xff", b"\xff\xff\xff"]
    assert [k for k, _ in await driver.list(b"\xfe")] == [b"\xfe", b"\xfe\xff"]
    await driver.delete_prefix(b"\xff\xff")
    assert [k for k, _ in await driver.list(b"")] == [b"\xfe", b"\xfe\xff", b"\xff", b"\xff\x00"]


async def test_delete_prefix(driver: Driver) -> None:
    for key in [b"e/1", b"e/2", b"e/2/x", b"e0", b"m/1", b"e"]:
        await driver.set(key, b"v")
    await driver.delete_prefix(b"e/")
    assert [k for k, _ in await driver.list(b"")] == [b"e", b"e0", b"m/1"]
    await driver.delete_prefix(b"nothing")
    assert len(await driver.list(b"")) == 3
    await driver.delete_prefix(b"")
    assert await driver.list(b"") == []


async def test_batch_applies_in_order(driver: Driver) -> None:
    await driver.set(b"old/1", b"x")
    await driver.batch(
        [
            Set(b"a", b"1"),
            Set(b"b", b"2"),
            Delete(b"a"),
            DeletePrefix(b"old/"),
            Set(b"old/2", b"kept"),  # after the DeletePrefix, so it stays
            Set(b"b", b"3"),
        ]
    )
    assert await driver.list(b"") == [(b"b", b"3"), (b"old/2", b"kept")]


async def test_delete_range_removes_start_up_to_end(driver: Driver) -> None:
    for key in (b"a", b"b", b"b1", b"c", b"d"):
        await driver.set(key, b"x")
    await driver.batch([DeleteRange(b"b", b"c"), Set(b"b2", b"after")])
    assert [k for k, _ in await driver.list(b"")] == [b"a", b"b2", b"c", b"d"]
    await driver.batch([DeleteRange(b"c", None)])
    assert [k for k, _ in await driver.list(b"")] == [b"a", b"b2"]
    await driver.batch([DeleteRange(b"b", b"a")])  # an empty range removes nothing
    assert [k for k, _ in await driver.list(b"")] == [b"a", b"b2"]


async def test_batch_accepts_any_iterable_and_empty(driver: Driver) -> None:
    await driver.batch(Set(bytes([i]), b"v") for i in range(3))
    await driver.batch([])
    assert len(await driver.list(b"")) == 3


@pytest.mark.parametrize(
    "bad",
    [
        Set(b"k", "text"),  # type: ignore[arg-type]
        Set("k", b"v"),  # type: ignore[arg-type]
        Delete(bytearray(b"k")),  # type: ignore[arg-type]
        DeletePrefix(None),  # type: ignore[arg-type]
        ("set", b"k", b"v"),
    ],
)
async def test_failing_batch_leaves_nothing(driver: Driver, bad: object) -> None:
    await driver.set(b"keep", b"1")
    await driver.set(b"p/1", b"1")
    ops = [Set(b"new", b"1"), Delete(b"keep"), DeletePrefix(b"p/"), bad]
    with pytest.raises(TypeError):
        await driver.batch(ops)  # type: ignore[arg-type]
    assert await driver.list(b"") == [(b"keep", b"1"), (b"p/1", b"1")]
    # The driver is still usable after the failure.
    await driver.batch([Set(b"new", b"2")])
    assert await driver.get(b"new") == b"2"


async def test_an_alarm_in_a_batch_commits_with_it(driver: Driver) -> None:
    await driver.batch([Set(b"w", b"sleeping"), SetAlarm(1_700_000_000_123)])
    assert await driver.get_alarm() == 1_700_000_000_123
    with pytest.raises(TypeError):
        await driver.batch([SetAlarm(None), Set(b"w", None)])  # type: ignore[arg-type]
    assert await driver.get_alarm() == 1_700_000_000_123  # nothing of it applied
    await driver.batch([Set(b"w", b"done"), SetAlarm(None)])
    assert await driver.get_alarm() is None
    assert await driver.get(b"w") == b"done"
    with pytest.raises(TypeError):
        await driver.batch([SetAlarm("soon")])  # type: ignore[arg-type]


async def test_alarms(driver: Driver) -> None:
    assert await driver.get_alarm() is None
    await driver.set_alarm(1_700_000_000_123)
    assert await driver.get_alarm() == 1_700_000_000_123
    await driver.set_alarm(5)
    assert await driver.get_alarm() == 5
    await driver.clear_alarm()
    assert await driver.get_alarm() is None
    await driver.clear_alarm()
    assert await driver.get_alarm() is None
    # The alarm is not a key.
    await driver.set_alarm(9)
    assert await driver.list(b"") == []


async def test_many_keys_range(driver: Driver) -> None:
    await driver.batch(Set(b"e/%06d" % i, b"%d" % i) for i in range(2000))
    await driver.batch(Set(b"f/%06d" % i, b"") for i in range(10))
    listed = await driver.list(b"e/0015")
    assert [k for k, _ in listed] == [b"e/%06d" % i for i in range(1500, 1600)]
    await driver.delete_prefix(b"e/001")
    assert len(await driver.list(b"e/")) == 1000
    assert len(await driver.list(b"")) == 1010


# -- model-based property test ---------------------------------------------

_keys = st.binary(max_size=3).map(lambda b: b.replace(b"\x01", b"\xff"))
_ops: st.SearchStrategy[BatchOp] = st.one_of(
    st.builds(Set, _keys, st.binary(max_size=2)),
    st.builds(Delete, _keys),
    st.builds(DeletePrefix, st.binary(max_size=2)),
    st.builds(DeleteRange, _keys, st.none() | _keys),
    st.builds(SetAlarm, st.none() | st.integers(0, 2**53)),
)


def _model_apply(model: dict[bytes, bytes], op: BatchOp) -> None:
    match op:
        case Set(key=key, value=value):
            model[key] = value
        case Delete(key=key):
            model.pop(key, None)
        case DeletePrefix(prefix=prefix):
            for key in [k for k in model if k.startswith(prefix)]:
                del model[key]
        case DeleteRange(start=start, end=end):
            for key in [k for k in model if k >= start and (end is None or k < end)]:
                del model[key]
        case SetAlarm():
            pass  # not a key: the model test checks the alarm on its own


_model_namespaces = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(st.lists(_ops, max_size=6), max_size=8),
    probes=st.lists(st.binary(max_size=2), min_size=1, max_size=4),
)
def test_matches_dict_model(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_dsn: str,
    batches: list[list[BatchOp]],
    probes: list[bytes],
) -> None:
    async def check(driver: Driver) -> None:
        model: dict[bytes, bytes] = {}
        alarm: int | None = None
        for ops in batches:
            await driver.batch(ops)
            for op in ops:
                _model_apply(model, op)
                if type(op) is SetAlarm:
                    alarm = op.at_ms
            assert await driver.get_alarm() == alarm
            for prefix in probes:
                expected = sorted((k, v) for k, v in model.items() if k.startswith(prefix))
                assert await driver.list(prefix) == expected
        for key in model:
            assert await driver.get(key) == model[key]

    async def check_postgres() -> None:
        # One database for every example: each example gets a new namespace.
        async with await PostgresStore.open(postgres_dsn, max_size=2) as store:
            await check(store.driver(f"model-{next(_model_namespaces)}"))

    asyncio.run(check(MemoryDriver()))
    sqlite_driver = SQLiteDriver(tmp_path_factory.mktemp("model") / "m.db", "ns")
    try:
        asyncio.run(check(sqlite_driver))
    finally:
        sqlite_driver.close()
    asyncio.run(check_postgres())


# -- SQLite-only -----------------------------------------------------------


async def test_sqlite_namespaces_are_isolated(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = SQLiteDriver(path, "wf-a"), SQLiteDriver(path, "wf-b")
    try:
        await a.batch([Set(b"k", b"a"), Set(b"x/1", b"a")])
        await b.batch([Set(b"k", b"b"), Set(b"x/2", b"b")])
        await a.set_alarm(1)
        assert await a.get(b"k") == b"a"
        assert await b.get(b"k") == b"b"
        assert await a.list(b"x/") == [(b"x/1", b"a")]
        assert await b.list(b"") == [(b"k", b"b"), (b"x/2", b"b")]
        assert await b.get_alarm() is None
        await a.delete_prefix(b"")
        await a.clear_alarm()
        assert await a.list(b"") == []
        assert await b.list(b"") == [(b"k", b"b"), (b"x/2", b"b")]
        await b.set_alarm(2)
        assert await a.get_alarm() is None
    finally:
        a.close()
        b.close()


async def test_sqlite_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "persist.db"
    first = SQLiteDriver(path, "wf")
    await first.batch([Set(b"a", b"1"), Set(b"\xff", b"2")])
    await first.set_alarm(42)
    first.close()
    second = SQLiteDriver(str(path), "wf")
    try:
        assert await second.list(b"") == [(b"a", b"1"), (b"\xff", b"2")]
        assert await second.get_alarm() == 42
    finally:
        second.close()


async def test_sqlite_file_is_wal_and_readable_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with SQLiteDriver(path, "wf") as driver:
        await driver.set(b"k", b"v")
        # Another connection (as another process would) sees the commit.
        other = sqlite3.connect(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            rows = other.execute("SELECT ns, key, value FROM kv").fetchall()
            assert rows == [("wf", b"k", b"v")]
        finally:
            other.close()


async def test_sqlite_batch_failing_inside_database_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    driver = SQLiteDriver(path, "wf")
    try:
        await driver.set(b"keep", b"1")
        # A trigger makes the database itself refuse one row mid-batch,
        # after earlier ops of the same batch already ran.
        trigger = sqlite3.connect(path)
        trigger.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON kv WHEN NEW.key = x'ff00' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        trigger.close()
        ops: list[BatchOp] = [
            Set(b"a", b"1"),
            Delete(b"keep"),
            DeletePrefix(b"z"),
            Set(b"\xff\x00", b"x"),
        ]
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            await driver.batch(ops)
        assert await driver.list(b"") == [(b"keep", b"1")]
        await driver.batch([Set(b"b", b"2")])  # not stuck in a transaction
        assert await driver.list(b"") == [(b"b", b"2"), (b"keep", b"1")]
    finally:
        driver.close()


async def test_sqlite_close(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    a, b = SQLiteDriver(path, "a"), SQLiteDriver(path, "b")
    a.close()
    a.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await a.get(b"k")
    with pytest.raises(RuntimeError, match="closed"):
        await a.batch([Set(b"k", b"v")])
    # Closing one namespace leaves the others sharing the file working.
    await b.set(b"k", b"v")
    assert await b.get(b"k") == b"v"
    b.close()
    reopened = SQLiteDriver(path, "b")
    assert await reopened.get(b"k") == b"v"
    reopened.close()


def test_sqlite_rejects_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteDriver(tmp_path / "x.db", "wf", synchronous="OFF")  # type: ignore[arg-type]


def test_sqlite_rejects_negative_mmap_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mmap_size"):
        SQLiteDriver(tmp_path / "x.db", "wf", mmap_size=-1)


async def test_sqlite_without_mmap_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "mmap.db"
    async with SQLiteDriver(path, "wf") as mapped:
        await mapped.batch(Set(b"k/%04d" % i, bytes([i % 256]) * 50) for i in range(500))
        async with SQLiteDriver(path, "wf", mmap_size=0) as plain:
            assert await plain.list(b"k/") == await mapped.list(b"k/")
            assert len(await plain.list(b"k/01")) == 100


async def test_sqlite_full_synchronous_works(tmp_path: Path) -> None:
    async with SQLiteDriver(tmp_path / "full.db", "wf", synchronous="FULL") as driver:
        await driver.batch([Set(b"k", b"v")])
        assert await driver.get(b"k") == b"v"
