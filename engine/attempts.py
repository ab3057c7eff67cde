"""The archive of earlier attempts: what each replay discarded.

``replay_from_step`` saves the entries and metadata it discards as
"attempt N" in the same atomic batch as the rewind, keeping the last
``keep_attempts`` (20 by default). Operator tooling lists and
diffs them.
"""

from __future__ import annotations

import attrs
import msgpack

from . import codec
from .driver import Driver
from .errors import AttemptNotFound
from .snapshot import HistorySnapshot

__all__ = ["AttemptInfo", "AttemptNotFound", "list_attempts", "load_attempt"]


@attrs.frozen
class AttemptInfo:
    """One archived attempt.

    Attributes:
        number: 1 for what the first replay discarded, then 2, …
        created_at: when the replay happened (epoch ms).
        target_id: the replay target (``None``: from the start).
        boundary_id: the first discarded entry.
        entries: how many entries were discarded.
        state: the workflow state before the replay.
        error: the workflow error before the replay.
    """

    number: int
    created_at: int
    target_id: str | None
    boundary_id: str | None
    entries: int
    state: str
    error: str | None


async def list_attempts(driver: Driver) -> list[AttemptInfo]:
    """Archived attempts, oldest first."""
    out = []
    for _key, raw in await driver.list(codec.ATTEMPT_HEAD):
        head = msgpack.unpackb(raw, raw=False)
        out.append(
            AttemptInfo(
                head["number"],
                head["createdAt"],
                head["targetId"],
                head["boundaryId"],
                head["entries"],
                head["state"],
                head["error"],
            )
        )
    return out


async def load_attempt(driver: Driver, number: int) -> HistorySnapshot:
    """The entries and metadata attempt ``number`` discarded, as a snapshot.

    Raises:
        AttemptNotFound: no such attempt is archived.
    """
    raw = await driver.get(codec.int_key(codec.ATTEMPT_BODY, number))
    if raw is None:
        raise AttemptNotFound(number)
    names, seqs, raw_entries, raw_metas, record = msgpack.unpackb(raw, raw=False)
    entries = [codec.decode_entry(data, seq) for seq, data in zip(seqs, raw_entries, strict=True)]
    metadata = {
        entry.id: codec.decode_meta(meta) for entry, meta in zip(entries, raw_metas, strict=True)
    }
    return HistorySnapshot(names, entries, metadata, codec.decode_record(record))
