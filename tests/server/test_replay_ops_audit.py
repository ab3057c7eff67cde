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
