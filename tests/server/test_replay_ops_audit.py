"""The replay audit log (server/audit.py): append, newest first, bounded, persisted."""

from __future__ import annotations

from pathlib import Path

import pytest
from actorscope.engine.memory_driver import MemoryDriver
from actorscope.engine.sqlite_driver import SQLiteDriver
from actorscope.server.audit import ReplayAudit


async def _append(audit: ReplayAudit, n: int, result: str = "done") -> None:
    await audit.append(
        transport="http",
        credential="server",
        target={"entryId": f"e{n}", "step": None},
        boundary={"entryId": f"e{n}", "path": "two", "kind": "step"},
        discarded=n,
        reason=f"because {n}",
        result=result,  # type: ignore[arg-type]
        refusal=None if result == "done" else {"code": "workflow.replay_in_flight", "message": "x"},
    )


async def test_records_come_back_newest_first() -> None:
    audit = ReplayAudit(MemoryDriver())
    for n in range(3):
        await _append(audit, n)
    await _append(audit, 3, "refused")
    records = await audit.records()
    assert [r.seq for r in records] == [4, 3, 2, 1]
    assert records[0].result == "refused"
    assert records[0].refusal == {"code": "workflow.replay_in_flight", "message": "x"}
    assert records[-1].reason == "because 0"
    assert records[0].to_json()["target"] == {"entryId": "e3", "step": None}
    assert [r.seq for r in await audit.records(limit=2)] == [4, 3]


async def test_log_is_bounded_and_keeps_counting() -> None:
    audit = ReplayAudit(MemoryDriver(), limit=3)
    for n in range(5):
        await _append(audit, n)
    records = await audit.records()
    assert [r.seq for r in records] == [5, 4, 3]


async def test_records_survive_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    driver = SQLiteDriver(path, "audit/x")
    await _append(ReplayAudit(driver), 1)
    driver.close()
    reopened = SQLiteDriver(path, "audit/x")
    records = await ReplayAudit(reopened).records()
    reopened.close()
    assert len(records) == 1 and records[0].credential == "server"
    assert "token" not in records[0].to_json()


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReplayAudit(MemoryDriver(), limit=0)


class _CountingDriver(MemoryDriver):
    """Counts reads, to show an append reads nothing back."""

    def __init__(self) -> None:
        super().__init__()
        self.lists = 0
        self.gets = 0

    async def list(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        self.lists += 1
        return await super().list(prefix)

    async def get(self, key: bytes) -> bytes | None:
        self.gets += 1
        return await super().get(key)


async def test_appends_read_nothing_back() -> None:
    driver = _CountingDriver()
    audit = ReplayAudit(driver, limit=50, refusal_limit=50)
    await audit.open()
    opened = (driver.lists, driver.gets)
    for n in range(300):
        await _append(audit, n, "done" if n % 3 == 0 else "refused")
    assert (driver.lists, driver.gets) == opened  # O(1): no record is re-read
    records = await audit.records()
    assert len([r for r in records if r.result == "done"]) == 50
    assert len([r for r in records if r.result == "refused"]) == 50


async def test_refusals_do_not_evict_done_records_and_repeats_are_counted() -> None:
    audit = ReplayAudit(MemoryDriver(), limit=5, refusal_limit=3)
    await _append(audit, 0, "done")
    for n in range(10):
        await _append(audit, n + 1, "refused")
    for _ in range(4):
        await _append(audit, 99, "refused")
    records = await audit.records()
    assert [(r.result, r.discarded, r.count) for r in records] == [
        ("refused", 99, 4),
        ("refused", 10, 1),
        ("refused", 9, 1),
        ("done", 0, 1),
    ]


async def test_legacy_records_move_into_the_two_logs(tmp_path: Path) -> None:
    import msgpack

    driver = MemoryDriver()
    old = {
        "seq": 1,
        "at_ms": 5,
        "transport": "http",
        "credential": "server",
        "target": {"entryId": None, "step": None},
        "boundary": None,
        "discarded": 2,
        "reason": None,
        "result": "done",
        "refusal": None,
        "attempt": 1,
    }
    refused = old | {"seq": 2, "result": "refused", "refusal": {"code": "c", "message": "m"}}
    await driver.set(b"r/" + b"%016x" % 1, msgpack.packb(old))
    await driver.set(b"r/" + b"%016x" % 2, msgpack.packb(refused))
    audit = ReplayAudit(driver)
    assert [(r.seq, r.result) for r in await audit.records()] == [(2, "refused"), (1, "done")]
    await _append(audit, 3)
    assert [r.seq for r in await audit.records()] == [3, 2, 1]
    assert await driver.list(b"r/") == []
