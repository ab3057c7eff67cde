"""The replay audit: who rewound which workflow, why, and what came of it.

Issue #5 "Reason and audit": every replay, from either transport, appends a
record persisted with the actor — time, transport, credential class (server
token, actor token, dev mode; never the token itself), target, boundary,
number of entries discarded, reason, and result (done, or refused and why).
``GET /inspector/workflow/replays`` lists them newest first.

Records live in any engine ``Driver`` namespace (the server gives each actor
its own, ``audit/{actorId}`` in the data directory's SQLite file), one key per
record, ``r/{seq:016x}`` so key order is append order. The log is bounded:
past ``limit`` records the oldest are deleted in the same atomic batch that
appends the new one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import attrs
import msgpack

from actorscope.engine.driver import BatchOp, Delete, Driver, Set

__all__ = ["DEFAULT_AUDIT_LIMIT", "ReplayAudit", "ReplayAuditRecord", "ReplayResult"]

DEFAULT_AUDIT_LIMIT = 1000
_PREFIX = b"r/"

ReplayResult = Literal["done", "refused"]


@attrs.frozen
class ReplayAuditRecord:
    """One replay attempt.

    A dry run is a preview, not a replay, and is not recorded — unless it was
    the preview of a replay the operator asked for and the server refused it
    there (``replay_ops``: ``auditRefusal``); then ``dry_run`` is true and
    ``result`` is ``"refused"``: nothing reached the workflow.

    ``target`` is what the caller asked for: ``{"entryId", "step"}`` (either may
    be ``None``; both ``None`` means "from the start"). ``boundary`` is where the
    rewind started (``{"entryId", "path", "kind"}``), ``None`` for a replay
    from the start or a refusal before it was known. ``refusal`` is
    ``{"code", "message"}`` when ``result == "refused"``. ``attempt`` is the
    number the discarded entries were archived under.
    """

    seq: int
    at_ms: int
    transport: str
    credential: str
    target: dict[str, Any]
    boundary: dict[str, Any] | None
    discarded: int
    reason: str | None
    result: ReplayResult
    refusal: dict[str, str] | None = None
    attempt: int | None = None
    # Records written before this field existed lack it: they were replays.
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        """The HTTP API's camelCase form."""
        return {
            "seq": self.seq,
            "at": self.at_ms,
            "transport": self.transport,
            "credential": self.credential,
            "target": self.target,
            "boundary": self.boundary,
            "discarded": self.discarded,
            "reason": self.reason,
            "result": self.result,
            "refusal": self.refusal,
            "attempt": self.attempt,
            "dryRun": self.dry_run,
        }


class ReplayAudit:
    """The append-only (bounded) replay log of one actor."""

    def __init__(self, driver: Driver, *, limit: int = DEFAULT_AUDIT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("audit limit must be at least 1")
        self._driver = driver
        self._limit = limit
        # Appends read the last sequence number then write: serialize them.
        self._lock = asyncio.Lock()

    async def append(
        self,
        *,
        transport: str,
        credential: str,
        target: dict[str, Any],
        boundary: dict[str, Any] | None,
        discarded: int,
        reason: str | None,
        result: ReplayResult,
        refusal: dict[str, str] | None = None,
        attempt: int | None = None,
        at_ms: int | None = None,
        dry_run: bool = False,
    ) -> ReplayAuditRecord:
        """Persist one record and return it."""
        async with self._lock:
            rows = await self._driver.list(_PREFIX)
            seq = _seq(rows[-1][0]) + 1 if rows else 1
            record = ReplayAuditRecord(
                seq=seq,
                at_ms=int(time.time() * 1000) if at_ms is None else at_ms,
                transport=transport,
                credential=credential,
                target=dict(target),
                boundary=None if boundary is None else dict(boundary),
                discarded=discarded,
                reason=reason,
                result=result,
                refusal=None if refusal is None else dict(refusal),
                attempt=attempt,
                dry_run=dry_run,
            )
            ops: list[BatchOp] = [Set(_key(seq), _pack(attrs.asdict(record)))]
            excess = len(rows) + 1 - self._limit
            ops.extend(Delete(key) for key, _ in rows[: max(0, excess)])
            await self._driver.batch(ops)
            return record

    async def records(self, limit: int | None = None) -> list[ReplayAuditRecord]:
        """The records, newest first (at most ``limit``)."""
        rows = await self._driver.list(_PREFIX)
        rows.reverse()
        if limit is not None:
            rows = rows[:limit]
        return [ReplayAuditRecord(**_unpack(value)) for _, value in rows]


def _key(seq: int) -> bytes:
    return _PREFIX + f"{seq:016x}".encode()


def _seq(key: bytes) -> int:
    return int(key[len(_PREFIX) :], 16)


def _pack(value: Any) -> bytes:
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def _unpack(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = msgpack.unpackb(data, raw=False)
    return out
