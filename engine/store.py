"""The live, in-memory history of one workflow and its staged writes.

:class:`HistoryStore` loads everything once (names, entries, metadata, the
workflow record, pending queue messages), indexes entries by id, by location
and by parent location, and afterwards only ever *appends* or *replaces*
single entries. Each change is staged as driver ops; :meth:`flush` sends the
staged ops as **one** ``batch`` (ENGINE.md "Storage": the writes of one
operation are one batch), so a step costs one batch and O(1) work no matter
how long the history is.
"""

from __future__ import annotations

import bisect
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from . import codec
from .checkpoints import CheckpointIndex
from .driver import BatchOp, Delete, Driver, Reads, Set, consistent_reads
from .model import Entry, EntryKind, EntryMetadata, Location, WorkflowRecord
from .snapshot import HistorySnapshot

__all__ = ["HistoryListener", "HistoryStore", "QueuedMessage", "StoreListener", "new_entry_id"]

# Public callback: receives a snapshot after every history write.
HistoryListener = Callable[[HistorySnapshot], Any]
# Internal callback: receives the store, so a listener that coalesces
# notifications builds one snapshot for many writes.
StoreListener = Callable[["HistoryStore"], Any]


def new_entry_id() -> str:
    """A random unique entry id (64 random bits, hex)."""
    return os.urandom(8).hex()


@attrs.frozen
class QueuedMessage:
    """A queue message not yet taken by ``ctx.queue.next``.

    ``value`` is the MessagePack bytes of the message data.
    """

    id: int
    name: str
    value: bytes
    created_at_ms: int


def _parent(location: Location) -> Location:
    return location[:-1]


class HistoryStore:
    """One workflow's history in memory plus the ops not yet written."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.names: list[str] = []
        self.name_ids: dict[str, int] = {}
        self.entries: list[Entry] = []
        self.pos: dict[str, int] = {}
        self.by_location: dict[Location, str] = {}
        self.children: dict[Location, list[str]] = {}
        self.meta: dict[str, EntryMetadata] = {}
        # Encoded entry / metadata, parallel to ``entries`` (same index), so
        # archiving and truncating a suffix are plain list slices.
        self.entry_raw: list[bytes] = []
        self.meta_raw: list[bytes] = []
        self.record = WorkflowRecord()
        self.input_raw: bytes | None = None
        self.messages: list[QueuedMessage] = []
        self.next_seq = 0
        self.next_msg = 0
        self.next_attempt = 1
        # The keep_attempts of the last replay that pruned archived attempts
        # by listing them: while it holds, only the one attempt that falls
        # off needs deleting (``replay._archive``).
        self.attempts_kept: int | None = None
        # State checkpoints kept with this history (only hosts that opt in write any).
        self.checkpoints = CheckpointIndex()
        self.pending: list[BatchOp] = []
        self.listeners: list[StoreListener] = []
        # Token of the latest batch this store wrote (or read at load time):
        # a cached store is reused only while the driver still holds it.
        self.version: bytes | None = None
        # The error of a batch the driver refused (a lost connection, a
        # refused fence): this store's run must end with it, never record it
        # as the workflow's own failure (executor.py).
        self.write_error: BaseException | None = None

    # -- loading -----------------------------------------------------------

    @classmethod
    async def load(cls, driver: Driver) -> HistoryStore:
        """Read one workflow's whole history from ``driver``, as of one committed state."""
        async with consistent_reads(driver) as reads:
            store = cls(driver)
            await store._load(reads)
        return store

    async def _load(self, reads: Reads) -> None:
        # The version first: should a write still land between two reads (a
        # driver without snapshots), the store holds an older token than its
        # content and is reloaded, never reused as current (``refresh``).
        self.version = await reads.get(codec.VERSION)
        self.names = [value.decode() for _key, value in await reads.list(codec.NAME)]
        # As ``_add_name`` of each in turn (a later duplicate wins).
        self.name_ids = {name: index for index, name in enumerate(self.names)}
        rows = await reads.list(codec.ENTRY)
        meta_rows = await reads.list(codec.META)
        # Entries and metadata are written together, so the two sorted lists
        # normally pair up one to one; match by number only if they do not.
        width, meta_width = len(codec.ENTRY), len(codec.META)
        paired = len(rows) == len(meta_rows) and all(
            e[0][width:] == m[0][meta_width:] for e, m in zip(rows, meta_rows, strict=True)
        )
        if paired:
            raw_metas = [value for _key, value in meta_rows]
        else:
            by_number = {key[meta_width:]: value for key, value in meta_rows}
            missing = codec.encode_meta(EntryMetadata())
            raw_metas = [by_number.get(key[width:], missing) for key, _value in rows]
        # Decoding allocates several objects per entry and creates no
        # reference cycles; with the cyclic collector on, a long history
        # triggers repeated scans of the whole (growing) heap. Nothing here
        # awaits, so no other task runs while the collector is paused.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._index_loaded(codec.decode_entries(rows), codec.decode_metas(raw_metas))
        finally:
            if collecting:
                gc.enable()
        self.entry_raw = [value for _key, value in rows]
        self.meta_raw = raw_metas
        record = await reads.get(codec.WORKFLOW)
        if record is not None:
            self.record = codec.decode_record(record)
        self.input_raw = await reads.get(codec.INPUT)
        for key, value in await reads.list(codec.QUEUE):
            name, data, created = codec.decode_value(value)
            self.messages.append(
                QueuedMessage(codec.key_number(key, codec.QUEUE), name, data, created)
            )
        self.next_seq = max(
            await _counter(reads, codec.COUNTER_SEQ),
            self.entries[-1].seq + 1 if self.entries else 0,
        )
        self.next_msg = max(
            await _counter(reads, codec.COUNTER_MSG),
            self.messages[-1].id + 1 if self.messages else 0,
        )
        self.next_attempt = max(await _counter(reads, codec.COUNTER_ATTEMPT), 1)
        self.checkpoints = await CheckpointIndex.load(reads)

    async def refresh(self) -> bool:
        """Make a cached store current again; ``False`` if it must be reloaded.

        Valid while the driver's version token is the one this store wrote
        last (nobody else changed the history). Queue messages are written
        by senders without touching the token, so they are re-read here.
        """
        if self.pending or self.version is None:
            return False
        if await self.driver.get(codec.VERSION) != self.version:
            return False
        messages = []
        for key, value in await self.driver.list(codec.QUEUE):
            name, data, created = codec.decode_value(value)
            messages.append(QueuedMessage(codec.key_number(key, codec.QUEUE), name, data, created))
        self.messages = messages
        if messages:
            self.next_msg = max(self.next_msg, messages[-1].id + 1)
        self.listeners = []
        return True

    def _add_name(self, name: str) -> int:
        index = len(self.names)
        self.names.append(name)
        self.name_ids[name] = index
        return index

    def _index_loaded(self, entries: list[Entry], metas: list[EntryMetadata]) -> None:
        # What ``_index`` of each in turn builds, a whole index at a time
        # (a later duplicate id or location wins there too); a load, and a
        # rewind that keeps less than it drops, index this way.
        ids = [entry.id for entry in entries]
        self.entries = entries
        self.pos = {entry_id: i for i, entry_id in enumerate(ids)}
        self.meta = dict(zip(ids, metas, strict=True))
        self.by_location = {entry.location: entry.id for entry in entries}
        children = self.children = {}
        for entry in entries:
            parent = entry.location[:-1]
            siblings = children.get(parent)
            if siblings is None:
                children[parent] = [entry.id]
            else:
                siblings.append(entry.id)

    def _index(self, entry: Entry, raw: bytes, meta: EntryMetadata, raw_meta: bytes) -> None:
        self.pos[entry.id] = len(self.entries)
        self.entries.append(entry)
        self.by_location[entry.location] = entry.id
        siblings = self.children.get(entry.location[:-1])
        if siblings is None:
            self.children[entry.location[:-1]] = [entry.id]
        else:
            siblings.append(entry.id)
        self.meta[entry.id] = meta
        self.entry_raw.append(raw)
        self.meta_raw.append(raw_meta)

    # -- reading -----------------------------------------------------------

    def entry(self, entry_id: str) -> Entry:
        return self.entries[self.pos[entry_id]]

    def at(self, location: Location) -> Entry | None:
        entry_id = self.by_location.get(location)
        return None if entry_id is None else self.entries[self.pos[entry_id]]

    def view(self) -> HistorySnapshot:
        """A snapshot that *shares* this store's indexes: valid only until the next change.

        For synchronous use (planning a replay) without copying the history.
        """
        view = HistorySnapshot(self.names, self.entries, self.meta, self.record)
        view.__dict__["by_id"] = _ById(self.entries, self.pos)
        view.__dict__["by_location"] = _ByLocation(self.entries, self.pos, self.by_location)
        return view

    def snapshot(self) -> HistorySnapshot:
        """An immutable view sharing the (frozen) entries and metadata."""
        return HistorySnapshot(self.names, self.entries, dict(self.meta), self.record)

    # -- staging writes ----------------------------------------------------

    def name_index(self, name: str) -> int:
        """The registry index of ``name``, registering (and staging) it if new."""
        index = self.name_ids.get(name)
        if index is None:
            index = self._add_name(name)
            self.pending.append(Set(codec.int_key(codec.NAME, index), name.encode()))
        return index

    def add_entry(self, location: Location, kind: EntryKind, meta: EntryMetadata) -> Entry:
        """Create an entry with the next creation sequence number (staged)."""
        entry = Entry(new_entry_id(), location, kind, self.next_seq)
        self.next_seq += 1
        raw, raw_meta = codec.encode_entry(entry), codec.encode_meta(meta)
        self._index(entry, raw, meta, raw_meta)
        self.pending.append(Set(codec.int_key(codec.ENTRY, entry.seq), raw))
        self.pending.append(Set(codec.int_key(codec.META, entry.seq), raw_meta))
        return entry

    def reinsert(self, entry: Entry, meta: EntryMetadata) -> list[BatchOp]:
        """Index a dropped ``entry`` again under the next sequence number.

        Returns its writes instead of staging them: a replay that carries an
        entry over puts them after its range deletes in the same batch.
        """
        moved = entry._replace(seq=self.next_seq)
        self.next_seq += 1
        raw, raw_meta = codec.encode_entry(moved), codec.encode_meta(meta)
        self._index(moved, raw, meta, raw_meta)
        return [
            Set(codec.int_key(codec.ENTRY, moved.seq), raw),
            Set(codec.int_key(codec.META, moved.seq), raw_meta),
        ]

    def update(
        self, entry: Entry, kind: EntryKind | None = None, meta: EntryMetadata | None = None
    ) -> Entry:
        """Replace an entry's kind data and/or metadata (staged)."""
        if kind is not None:
            entry = entry._replace(kind=kind)
            raw = codec.encode_entry(entry)
            index = self.pos[entry.id]
            self.entries[index] = entry
            self.entry_raw[index] = raw
            self.pending.append(Set(codec.int_key(codec.ENTRY, entry.seq), raw))
        if meta is not None:
            raw_meta = codec.encode_meta(meta)
            self.meta[entry.id] = meta
            self.meta_raw[self.pos[entry.id]] = raw_meta
            self.pending.append(Set(codec.int_key(codec.META, entry.seq), raw_meta))
        return entry

    def set_record(self, record: WorkflowRecord) -> None:
        self.record = record
        self.pending.append(Set(codec.WORKFLOW, codec.encode_record(record)))

    def set_input(self, raw: bytes) -> None:
        self.input_raw = raw
        self.pending.append(Set(codec.INPUT, raw))

    def stage_checkpoint(self, capture: Callable[[], bytes], keep: int) -> None:
        """Record the host state now as a checkpoint (staged; see ``checkpoints.py``)."""
        self.pending.extend(self.checkpoints.stage(self.next_seq, capture, keep))

    def take_message(self, name: str) -> QueuedMessage | None:
        """Remove (staged) and return the oldest pending message called ``name``."""
        for i, message in enumerate(self.messages):
            if message.name == name:
                del self.messages[i]
                self.pending.append(Delete(codec.int_key(codec.QUEUE, message.id)))
                return message
        return None

    async def flush(self, extra: Iterable[BatchOp] = ()) -> None:
        """Write every staged op (plus ``extra``) as one atomic batch, then notify."""
        ops = self.pending
        ops.extend(extra)
        if not ops:
            return
        self.pending = []
        version = os.urandom(8).hex().encode()
        ops.append(Set(codec.VERSION, version))
        try:
            await self.driver.batch(ops)
        except BaseException as exc:
            # Nothing of the batch was applied (atomic); keep the ops staged
            # so the in-memory view and the next flush stay consistent.
            ops.pop()
            self.pending = ops + self.pending
            if isinstance(exc, Exception):
                self.write_error = exc
            raise
        self.version = version
        self.notify()

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    # -- rewinding (replay) -----------------------------------------------

    def cut_index(self, boundary_seq: int) -> int:
        """Index in ``entries`` of the first entry with ``seq >= boundary_seq``."""
        return bisect.bisect_left(self.entries, boundary_seq, key=lambda e: e.seq)

    def truncate(self, boundary_seq: int) -> list[Entry]:
        """Drop every entry with ``seq >= boundary_seq`` from memory; return them.

        Costs O(min(kept, dropped)) index updates: a large rewind rebuilds
        the indexes from what is kept instead of deleting entry by entry.
        """
        cut = self.cut_index(boundary_seq)
        dropped = self.entries[cut:]
        if not dropped:
            return dropped
        del self.entry_raw[cut:]
        del self.meta_raw[cut:]
        if len(dropped) > cut:
            kept = self.entries[:cut]
            self._index_loaded(kept, [self.meta[e.id] for e in kept])
            return dropped
        del self.entries[cut:]
        # Per parent, the dropped entries are the newest children, so popping
        # from the end in reverse creation order keeps this linear.
        for entry in reversed(dropped):
            del self.pos[entry.id]
            del self.by_location[entry.location]
            del self.meta[entry.id]
            parent = _parent(entry.location)
            siblings = self.children[parent]
            if siblings and siblings[-1] == entry.id:
                siblings.pop()
            else:
                siblings.remove(entry.id)
            if not siblings:
                del self.children[parent]
        return dropped


class _ById(Mapping[str, Entry]):
    """``by_id`` over the store's own index (no copy)."""

    __slots__ = ("_entries", "_pos")

    def __init__(self, entries: list[Entry], pos: dict[str, int]) -> None:
        self._entries = entries
        self._pos = pos

    def __getitem__(self, entry_id: str) -> Entry:
        return self._entries[self._pos[entry_id]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pos)

    def __len__(self) -> int:
        return len(self._pos)


class _ByLocation(Mapping[Location, Entry]):
    """``by_location`` over the store's own index (no copy)."""

    __slots__ = ("_by_location", "_entries", "_pos")

    def __init__(
        self, entries: list[Entry], pos: dict[str, int], by_location: dict[Location, str]
    ) -> None:
        self._entries = entries
        self._pos = pos
        self._by_location = by_location

    def __getitem__(self, location: Location) -> Entry:
        return self._entries[self._pos[self._by_location[location]]]

    def __iter__(self) -> Iterator[Location]:
        return iter(self._by_location)

    def __len__(self) -> int:
        return len(self._by_location)


async def _counter(reads: Reads, key: bytes) -> int:
    raw = await reads.get(key)
    return int(raw) if raw is not None else 0
