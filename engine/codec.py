"""Storage layout: driver keys and the byte encoding of every record.

Key layout inside one workflow's driver namespace (all ASCII; numbers are
fixed-width decimal so that byte order is numeric order and the tail of a
numbered family is one ``DeleteRange``)::

    w               workflow record   [state, output, error, wake_at]
    i               workflow input    (MessagePack of the input value)
    n/<8 digits>    name registry     (UTF-8 name; index = the number)
    e/<12 digits>   entry by creation sequence number
    m/<12 digits>   entry metadata, same number as its entry
    q/<12 digits>   pending queue message by message id
    k/seq k/msg k/att  high-water counters (only ever grow)
    k/ver           random token rewritten by every history batch (cache check)
    ah/<8 digits>   replay attempt header; ab/<8 digits> its archived entries
    c/<12 digits>   state checkpoint: the host state when the entry counter had
                    that value (``engine/checkpoints.py``); k/cfl the range
                    of the checkpoint numbers evicted so far

Records are MessagePack arrays (compact, fast); user values are MessagePack
too (ARCHITECTURE.md: "User values ... are stored MessagePack-encoded").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from .driver import DeleteRange, prefix_successor
from .model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryKind,
    EntryMetadata,
    EntryStatus,
    JoinKind,
    Location,
    LoopKind,
    LoopMarker,
    MessageKind,
    RaceKind,
    RemovedKind,
    RollbackCheckpointKind,
    Segment,
    SleepKind,
    SleepState,
    StepKind,
    VersionCheckKind,
    WorkflowRecord,
    WorkflowState,
)

__all__ = [
    "ATTEMPT_BODY",
    "ATTEMPT_HEAD",
    "CHECKPOINT",
    "CHECKPOINT_FLOOR",
    "COUNTER_ATTEMPT",
    "COUNTER_MSG",
    "COUNTER_SEQ",
    "ENTRY",
    "INPUT",
    "META",
    "NAME",
    "QUEUE",
    "VERSION",
    "WORKFLOW",
    "decode_entries",
    "decode_entry",
    "decode_meta",
    "decode_metas",
    "decode_record",
    "decode_value",
    "delete_from",
    "encode_entry",
    "encode_meta",
    "encode_record",
    "encode_value",
    "int_key",
    "key_number",
]

WORKFLOW = b"w"
INPUT = b"i"
NAME = b"n/"
ENTRY = b"e/"
META = b"m/"
QUEUE = b"q/"
COUNTER_SEQ = b"k/seq"
COUNTER_MSG = b"k/msg"
COUNTER_ATTEMPT = b"k/att"
VERSION = b"k/ver"
ATTEMPT_HEAD = b"ah/"
ATTEMPT_BODY = b"ab/"
CHECKPOINT = b"c/"
CHECKPOINT_FLOOR = b"k/cfl"

_WIDTH = {
    NAME: 8,
    ENTRY: 12,
    META: 12,
    QUEUE: 12,
    ATTEMPT_HEAD: 8,
    ATTEMPT_BODY: 8,
    CHECKPOINT: 12,
}


def int_key(prefix: bytes, number: int) -> bytes:
    """``prefix`` followed by ``number`` in fixed-width decimal."""
    return prefix + str(number).zfill(_WIDTH[prefix]).encode()


def key_number(key: bytes, prefix: bytes) -> int:
    """The number at the end of a key built by :func:`int_key`."""
    return int(key[len(prefix) :])


def delete_from(prefix: bytes, start: int) -> DeleteRange:
    """The op removing every ``prefix`` key numbered ``start`` or more.

    The numbers are fixed-width decimal, so byte order is number order: the
    keys from ``int_key(prefix, start)`` to the end of the prefix are exactly
    those numbers, in one range (one statement in SQL).
    """
    return DeleteRange(int_key(prefix, start), prefix_successor(prefix))


def encode_value(value: object) -> bytes:
    """MessagePack bytes of a user value (raises ``TypeError`` if it has none)."""
    return msgpack.packb(value, use_bin_type=True)


def decode_value(data: bytes) -> Any:
    """The user value of MessagePack bytes (lists for arrays, str keys kept)."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _encode_location(location: Location) -> list[object]:
    return [[seg.loop, seg.iteration] if isinstance(seg, LoopMarker) else seg for seg in location]


def _decode_location(raw: list[Any]) -> Location:
    if len(raw) == 1 and type(raw[0]) is int:
        return (raw[0],)  # top-level entries, the common case: no markers
    segs: list[Segment] = [
        seg if isinstance(seg, int) else LoopMarker(seg[0], seg[1]) for seg in raw
    ]
    return tuple(segs)


def _encode_branches(branches: dict[str, BranchStatus]) -> dict[str, list[object]]:
    return {name: [b.status.value, b.output, b.error] for name, b in branches.items()}


def _decode_branches(raw: dict[str, list[Any]]) -> dict[str, BranchStatus]:
    return {name: BranchStatus(BranchState(s), o, e) for name, (s, o, e) in raw.items()}


def _encode_kind(kind: EntryKind) -> list[object]:
    match kind:
        case StepKind(output=output, error=error):
            return [0, output, error]
        case LoopKind(state=state, iteration=iteration, output=output):
            return [1, state, iteration, output]
        case SleepKind(deadline=deadline, state=state):
            return [2, deadline, state.value]
        case MessageKind(name=name, message_data=data):
            return [3, name, data]
        case RollbackCheckpointKind(name=name):
            return [4, name]
        case JoinKind(branches=branches):
            return [5, _encode_branches(branches)]
        case RaceKind(winner=winner, branches=branches):
            return [6, winner, _encode_branches(branches)]
        case RemovedKind(original_type=original_type, original_name=original_name):
            return [7, original_type, original_name]
        case VersionCheckKind(resolved=resolved, latest=latest):
            return [8, resolved, latest]
    raise TypeError(f"not an entry kind: {kind!r}")


def _decode_kind(raw: list[Any]) -> EntryKind:
    match raw[0]:
        case 0:
            return StepKind(raw[1], raw[2])
        case 1:
            return LoopKind(raw[1], raw[2], raw[3])
        case 2:
            return SleepKind(raw[1], SleepState(raw[2]))
        case 3:
            return MessageKind(raw[1], raw[2])
        case 4:
            return RollbackCheckpointKind(raw[1])
        case 5:
            return JoinKind(_decode_branches(raw[1]))
        case 6:
            return RaceKind(raw[1], _decode_branches(raw[2]))
        case 7:
            return RemovedKind(raw[1], raw[2])
        case 8:
            return VersionCheckKind(raw[1], raw[2])
    raise ValueError(f"unknown entry kind tag {raw[0]!r}")


def encode_entry(entry: Entry) -> bytes:
    return msgpack.packb(
        [entry.id, _encode_location(entry.location), _encode_kind(entry.kind)],
        use_bin_type=True,
    )


def decode_entry(data: bytes, seq: int) -> Entry:
    return _entry_of(msgpack.unpackb(data, raw=False), seq)


def decode_entries(rows: Sequence[tuple[bytes, bytes]]) -> list[Entry]:
    """The entries of ``e/`` rows (key, value): ``decode_entry`` of each, in one pass."""
    width = len(ENTRY)
    unpackb = msgpack.unpackb
    return [_entry_of(unpackb(value, raw=False), int(key[width:])) for key, value in rows]


def _entry_of(item: list[Any], seq: int) -> Entry:
    entry_id, location, kind = item
    if kind[0] == 0 and len(location) == 1 and type(location[0]) is int:
        # A top-level step, nearly every entry of a long history: no calls.
        return Entry(entry_id, (location[0],), StepKind(kind[1], kind[2]), seq)
    return Entry(entry_id, _decode_location(location), _decode_kind(kind), seq)


_STATUSES = tuple(EntryStatus)
_STATUS_INDEX = {status: i for i, status in enumerate(_STATUSES)}


def encode_meta(meta: EntryMetadata) -> bytes:
    return msgpack.packb(
        [
            _STATUS_INDEX[meta.status],
            meta.error,
            meta.attempts,
            meta.last_attempt_at,
            meta.created_at,
            meta.completed_at,
            meta.rollback_completed_at,
            meta.rollback_error,
        ],
        use_bin_type=True,
    )


def decode_meta(data: bytes) -> EntryMetadata:
    return decode_metas((data,))[0]


def decode_metas(values: Sequence[bytes]) -> list[EntryMetadata]:
    """``decode_meta`` of each value, in one pass."""
    unpackb, statuses, make = msgpack.unpackb, _STATUSES, EntryMetadata._make
    return [
        make((statuses[m[0]], *m[1:8])) for m in (unpackb(value, raw=False) for value in values)
    ]


def encode_record(record: WorkflowRecord) -> bytes:
    return msgpack.packb(
        [record.state.value, record.output, record.error, record.wake_at], use_bin_type=True
    )


def decode_record(data: bytes) -> WorkflowRecord:
    state, output, error, wake_at = msgpack.unpackb(data, raw=False)
    return WorkflowRecord(WorkflowState(state), output, error, wake_at)
