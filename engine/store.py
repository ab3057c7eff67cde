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

import os
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from . import codec
from .driver import BatchOp, Delete, Driver, Set
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
        self.entry_raw: dict[str, bytes] = {}
        self.meta_raw: dict[str, bytes] = {}
        self.record = WorkflowRecord()
        self.input_raw: bytes | None = None
        self.messages: list[QueuedMessage] = []
        self.next_seq = 0
        self.next_msg = 0
        self.next_attempt = 1
        self.pending: list[BatchOp] = []
        self.listeners: list[StoreListener] = []
        # Token of the latest batch this store wrote (or read at load time):
        # a cached store is reused only while the driver still holds it.
        self.version: bytes | None = None

    # -- loading -----------------------------------------------------------

    @classmethod
    async def load(cls, driver: Driver) -> HistoryStore:
        """Read one workflow's whole history from ``driver``."""
        store = cls(driver)
        for _key, value in await driver.list(codec.NAME):
            store._add_name(value.decode())
        metas = {
            codec.key_number(key, codec.META): value for key, value in await driver.list(codec.META)
        }
        for key, value in await driver.list(codec.ENTRY):
            seq = codec.key_number(key, codec.ENTRY)
            entry = codec.decode_entry(value, seq)
            raw_meta = metas.get(seq)
            meta = codec.decode_meta(raw_meta) if raw_meta is not None else EntryMetadata()
            store._index(entry, value, meta, raw_meta or codec.encode_meta(meta))
        record = await driver.get(codec.WORKFLOW)
        if record is not None:
            store.record = codec.decode_record(record)
        store.input_raw = await driver.get(codec.INPUT)
        for key, value in await driver.list(codec.QUEUE):
            name, data, created = codec.decode_value(value)
            store.messages.append(
                QueuedMessage(codec.key_number(key, codec.QUEUE), name, data, created)
            )
        store.next_seq = max(
            await _counter(driver, codec.COUNTER_SEQ),
            store.entries[-1].seq + 1 if store.entries else 0,
        )
        store.next_msg = max(
            await _counter(driver, codec.COUNTER_MSG),
            store.messages[-1].id + 1 if store.messages else 0,
        )
        store.next_attempt = max(await _counter(driver, codec.COUNTER_ATTEMPT), 1)
        store.version = await driver.get(codec.VERSION)
        return store

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

    def _index(self, entry: Entry, raw: bytes, meta: EntryMetadata, raw_meta: bytes) -> None:
        self.pos[entry.id] = len(self.entries)
        self.entries.append(entry)
        self.by_location[entry.location] = entry.id
        self.children.setdefault(_parent(entry.location), []).append(entry.id)
        self.meta[entry.id] = meta
        self.entry_raw[entry.id] = raw
        self.meta_raw[entry.id] = raw_meta

    # -- reading -----------------------------------------------------------

    def entry(self, entry_id: str) -> Entry:
        return self.entries[self.pos[entry_id]]

    def at(self, location: Location) -> Entry | None:
        entry_id = self.by_location.get(location)
        return None if entry_id is None else self.entries[self.pos[entry_id]]

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

    def update(
        self, entry: Entry, kind: EntryKind | None = None, meta: EntryMetadata | None = None
    ) -> Entry:
        """Replace an entry's kind data and/or metadata (staged)."""
        if kind is not None:
            entry = attrs.evolve(entry, kind=kind)
            raw = codec.encode_entry(entry)
            self.entries[self.pos[entry.id]] = entry
            self.entry_raw[entry.id] = raw
            self.pending.append(Set(codec.int_key(codec.ENTRY, entry.seq), raw))
        if meta is not None:
            raw_meta = codec.encode_meta(meta)
            self.meta[entry.id] = meta
            self.meta_raw[entry.id] = raw_meta
            self.pending.append(Set(codec.int_key(codec.META, entry.seq), raw_meta))
        return entry

    def set_record(self, record: WorkflowRecord) -> None:
        self.record = record
        self.pending.append(Set(codec.WORKFLOW, codec.encode_record(record)))

    def set_input(self, raw: bytes) -> None:
        self.input_raw = raw
        self.pending.append(Set(codec.INPUT, raw))

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
        except BaseException:
            # Nothing of the batch was applied (atomic); keep the ops staged
            # so the in-memory view and the next flush stay consistent.
            ops.pop()
            self.pending = ops + self.pending
            raise
        self.version = version
        self.notify()

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener(self)

    # -- rewinding (replay) -----------------------------------------------

    def truncate(self, boundary_seq: int) -> list[Entry]:
        """Drop every entry with ``seq >= boundary_seq`` from memory; return them."""
        cut = len(self.entries)
        while cut > 0 and self.entries[cut - 1].seq >= boundary_seq:
            cut -= 1
        dropped = self.entries[cut:]
        if not dropped:
            return dropped
        del self.entries[cut:]
        # Per parent, the dropped entries are the newest children, so popping
        # from the end in reverse creation order keeps this linear.
        for entry in reversed(dropped):
            del self.pos[entry.id]
            del self.by_location[entry.location]
            del self.meta[entry.id]
            del self.entry_raw[entry.id]
            del self.meta_raw[entry.id]
            siblings = self.children[_parent(entry.location)]
            if siblings and siblings[-1] == entry.id:
                siblings.pop()
            else:
                siblings.remove(entry.id)
            if not siblings:
                del self.children[_parent(entry.location)]
        return dropped


async def _counter(driver: Driver, key: bytes) -> int:
    raw = await driver.get(key)
    return int(raw) if raw is not None else 0
