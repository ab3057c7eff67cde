"""The replay audit: who rewound which workflow, why, and what came of it.

Every replay, from either transport, leaves a record persisted with the
actor — time, transport, credential class (server token, actor token, dev
mode; never the token itself), target, boundary, number of entries
discarded, the attempt they were archived under, whether the actor state
was restored, reason, and result (done, or refused and why).

Records live in an engine ``Driver`` namespace of their own (the server
gives each actor ``audit/{actorId}`` in the data directory's SQLite file),
one key per record, in two logs with their own bounds:

* ``d/{seq:016x}`` — replays that **happened** (at most ``limit``, 10,000 by
  default). A done record is written by :meth:`ReplayAudit.done_ops` as a
  ``Linked`` op inside the replay's own batch (``engine.replay.rewind``):
  the rewind and its record are one atomic outcome, a crash included;
* ``f/{seq:016x}`` — refusals (at most ``refusal_limit``, 1,000). A refusal
  identical to the newest one (same caller class, target, reason and
  refusal) is counted on that record (``count``, ``lastAt``) instead of
  stored again. However many refusals arrive, they never evict a done
  replay.

``seq`` increases over both logs. Appends are O(1): the sequence numbers of
both logs are read once (:meth:`ReplayAudit.open`) and kept in memory, so an
append writes its record and deletes at most the oldest one. Listing is paged
(:meth:`ReplayAudit.page`: the newest N older than a ``seq``), reading only
the records it returns.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from typing import Any, Literal

import attrs
import msgpack

from actorscope.engine.driver import BatchOp, Delete, Driver, Linked, Set

__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "DEFAULT_REFUSAL_LIMIT",
    "MAX_REASON_CHARS",
    "MAX_REFUSAL_MESSAGE_CHARS",
    "ReplayAudit",
    "ReplayAuditRecord",
    "ReplayResult",
    "reason_problem",
]

#: Done replays kept per actor (only real replays evict these).
DEFAULT_AUDIT_LIMIT = 10_000
#: Refusals kept per actor.
DEFAULT_REFUSAL_LIMIT = 1000
#: Longest reason accepted (characters); longer is refused before anything happens.
MAX_REASON_CHARS = 500
#: Refusal messages are stored cut to this length (they may echo a caller's path).
MAX_REFUSAL_MESSAGE_CHARS = 500

_DONE = b"d/"
_REFUSED = b"f/"
# Records written before the two logs existed (one mixed log).
_LEGACY = b"r/"

ReplayResult = Literal["done", "refused"]

# What makes two refusals "the same" (counted on one record).
_IDENTITY = (
    "transport",
    "credential",
    "target",
    "boundary",
    "discarded",
    "reason",
    "result",
    "refusal",
    "attempt",
    "dry_run",
    "state_restored",
)


def reason_problem(reason: object) -> str | None:
    """Why ``reason`` cannot be recorded (``None``: it can)."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        return "'reason' must be a string"
    if len(reason) > MAX_REASON_CHARS:
        return f"'reason' is {len(reason)} characters long; at most {MAX_REASON_CHARS} are kept"
    if not _encodable(reason):
        return "'reason' is not valid Unicode text (it holds a lone surrogate)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    number the discarded entries were archived under. ``state_restored``
    says whether the actor state was rewound with the history. ``count``
    is how many identical refusals in a row this record stands for, the
    last at ``last_at_ms``.
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
    # Records written before these fields existed lack them.
    dry_run: bool = False
    state_restored: bool = False
    count: int = 1
    last_at_ms: int | None = None

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
            "stateRestored": self.state_restored,
            "count": self.count,
            "lastAt": self.last_at_ms if self.last_at_ms is not None else self.at_ms,
        }

    def same_refusal(self, other: ReplayAuditRecord) -> bool:
        """Whether ``other`` repeats this refusal (everything but time and seq)."""
        return all(getattr(self, name) == getattr(other, name) for name in _IDENTITY)


class ReplayAudit:
    """The bounded replay log of one actor: done replays and refusals kept apart."""

    def __init__(
        self,
        driver: Driver,
        *,
        limit: int = DEFAULT_AUDIT_LIMIT,
        refusal_limit: int = DEFAULT_REFUSAL_LIMIT,
    ) -> None:
        if limit < 1 or refusal_limit < 1:
            raise ValueError("audit limits must be at least 1")
        self._driver = driver
        self._limit = limit
        self._refusal_limit = refusal_limit
        self._done: list[int] = []
        self._refused: list[int] = []
        self._last_refusal: ReplayAuditRecord | None = None
        self._next_seq = 1
        self._opened = False
        self._lock = asyncio.Lock()

    @property
    def driver(self) -> Driver:
        return self._driver

    async def open(self) -> None:
        """Read the logs' sequence numbers once (and move legacy records into them)."""
        if self._opened:
            return
        async with self._lock:
            if self._opened:
                return
            await self._migrate()
            done = await self._driver.list(_DONE)
            refused = await self._driver.list(_REFUSED)
            self._done = [_seq(key) for key, _ in done]
            self._refused = [_seq(key) for key, _ in refused]
            if refused:
                self._last_refusal = _record(refused[-1][1])
            newest = max(self._done[-1:] + self._refused[-1:], default=0)
            self._next_seq = newest + 1
            self._opened = True

    async def _migrate(self) -> None:
        legacy = await self._driver.list(_LEGACY)
        if not legacy:
            return
        ops: list[BatchOp] = []
        for key, value in legacy:
            prefix = _DONE if _record(value).result == "done" else _REFUSED
            ops += [Set(prefix + key[len(_LEGACY) :], value), Delete(key)]
        await self._driver.batch(ops)

    def _record(self, **fields: Any) -> ReplayAuditRecord:
        assert self._opened, "ReplayAudit.open() first"
        at_ms = fields.pop("at_ms", None)
        refusal = fields.pop("refusal", None)
        if refusal is not None:
            refusal = dict(refusal)
            refusal["message"] = refusal["message"][:MAX_REFUSAL_MESSAGE_CHARS]
        record = ReplayAuditRecord(
            seq=self._next_seq,
            at_ms=int(time.time() * 1000) if at_ms is None else at_ms,
            refusal=refusal,
            **fields,
        )
        return record

    # done replays: written inside the replay's batch --------------------------

    def done_ops(self, **fields: Any) -> tuple[ReplayAuditRecord, list[BatchOp]]:
        """A done record and the ``Linked`` op that stores it in another driver's batch.

        Call :meth:`done_committed` once that batch committed. Raises before
        returning if the record cannot be encoded (nothing is written then).
        """
        record = self._record(result="done", **fields)
        self._next_seq += 1  # taken even if the batch fails: seqs only increase
        ops: list[Set | Delete] = [Set(_key(_DONE, record.seq), _pack(record))]
        excess = len(self._done) + 1 - self._limit
        ops.extend(Delete(_key(_DONE, old)) for old in self._done[: max(0, excess)])
        return record, [Linked(self._driver, ops)]

    def done_committed(self, record: ReplayAuditRecord) -> None:
        """The batch holding ``record`` committed: account for it."""
        self._done.append(record.seq)
        excess = len(self._done) - self._limit
        if excess > 0:
            del self._done[:excess]

    # appends of their own ---------------------------------------------------

    async def append(self, *, result: ReplayResult, **fields: Any) -> ReplayAuditRecord:
        """Persist one record on its own (refusals; done records outside a replay batch)."""
        await self.open()
        async with self._lock:
            if result == "done":
                record, ops = self.done_ops(**fields)
                await self._driver.batch(ops)
                self.done_committed(record)
                return record
            return await self._refusal(self._record(result="refused", **fields))

    async def _refusal(self, record: ReplayAuditRecord) -> ReplayAuditRecord:
        last = self._last_refusal
        # Counted only while nothing happened since: a replay in between
        # starts a new record, so the log keeps its order.
        newest_done = self._done[-1] if self._done else 0
        if last is not None and last.seq > newest_done and last.same_refusal(record):
            counted = attrs.evolve(last, count=last.count + 1, last_at_ms=record.at_ms)
            await self._driver.batch([Set(_key(_REFUSED, last.seq), _pack(counted))])
            self._last_refusal = counted
            return counted
        self._next_seq += 1
        ops: list[BatchOp] = [Set(_key(_REFUSED, record.seq), _pack(record))]
        excess = len(self._refused) + 1 - self._refusal_limit
        dropped = self._refused[: max(0, excess)]
        ops.extend(Delete(_key(_REFUSED, old)) for old in dropped)
        await self._driver.batch(ops)
        del self._refused[: len(dropped)]
        self._refused.append(record.seq)
        self._last_refusal = record
        return record

    # reading ------------------------------------------------------------------

    async def page(
        self, limit: int, before: int | None = None
    ) -> tuple[list[ReplayAuditRecord], bool]:
        """The newest ``limit`` records with ``seq < before``, newest first.

        Also returns whether older records remain.
        """
        await self.open()
        cut = before if before is not None else self._next_seq
        candidates = _newest(self._done, cut, limit) + _newest(self._refused, cut, limit)
        candidates.sort(reverse=True)
        chosen = candidates[:limit]
        records = []
        for seq in chosen:
            prefix = _DONE if _contains(self._done, seq) else _REFUSED
            raw = await self._driver.get(_key(prefix, seq))
            if raw is not None:
                records.append(_record(raw))
        oldest = chosen[-1] if chosen else cut
        more = bisect.bisect_left(self._done, oldest) > 0 or (
            bisect.bisect_left(self._refused, oldest) > 0
        )
        return records, more

    async def records(self, limit: int | None = None) -> list[ReplayAuditRecord]:
        """The records, newest first (at most ``limit``; all when ``None``)."""
        await self.open()
        count = len(self._done) + len(self._refused) if limit is None else limit
        records, _more = await self.page(count)
        return records


def _newest(seqs: list[int], before: int, limit: int) -> list[int]:
    end = bisect.bisect_left(seqs, before)
    return seqs[max(0, end - limit) : end]


def _contains(seqs: list[int], seq: int) -> bool:
    at = bisect.bisect_left(seqs, seq)
    return at < len(seqs) and seqs[at] == seq


def _key(prefix: bytes, seq: int) -> bytes:
    return prefix + f"{seq:016x}".encode()


def _seq(key: bytes) -> int:
    return int(key[2:], 16)


def _pack(record: ReplayAuditRecord) -> bytes:
    # The fields by name, in declaration order: what attrs.asdict gives for
    # these plain values, without its generic recursion (it was most of the
    # time a replay spent writing its audit record).
    fields = {name: getattr(record, name) for name in _RECORD_FIELDS}
    out: bytes = msgpack.packb(fields, use_bin_type=True)
    return out


_RECORD_FIELDS = tuple(field.name for field in attrs.fields(ReplayAuditRecord))


def _record(data: bytes) -> ReplayAuditRecord:
    fields: dict[str, Any] = msgpack.unpackb(data, raw=False)
    return ReplayAuditRecord(**fields)
