"""The server's persistent store: one data directory, one SQLite file.

Layout of the data directory (default ``./.actorscope/``)::

    actorscope.sqlite        actor records, state, tokens, traces, and every
                             workflow's history (engine ``SQLiteDriver``
                             namespaces ``wf/{actorId}``)
    actors/{actorId}.sqlite  an actor's own database, when it has one
    server-token             the generated server-wide inspector token

The directory and ``actors/`` are created 0700, and every file in them 0600
(``filemodes.py``): the records hold each actor's token in plain text.

Actor data lives in the namespace ``actors`` of the shared file, under keys
``rec/{id}`` (the record, with the actor's inspector token), ``state/{id}``
and ``span/{id}/{seq:016x}``. Values are MessagePack, the same encoding the
engine uses for user values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import msgpack

from actorscope.engine import SQLiteDriver
from actorscope.engine.driver import Delete, Linked, Set

from .filemodes import private_dir, private_sqlite_file
from .schedule_store import ScheduleStorage, acquire_schedule_store, release_schedule_store
from .traces import Span

__all__ = ["ActorExists", "ActorRecord", "ActorStore", "pack", "unpack"]

_NAMESPACE = "actors"
DB_FILE = "actorscope.sqlite"


class ActorExists(Exception):
    """Another node created an actor with the same (name, key) first (a shared store)."""

    def __init__(self, name: str, key: str) -> None:
        super().__init__(f"an actor {name!r} with key {key!r} was created by another node")
        self.name = name
        self.key = key


def pack(value: Any) -> bytes:
    """MessagePack-encode a user value (bytes stay bytes, str stays str)."""
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


@attrs.frozen
class ActorRecord:
    """What identifies an actor instance; ``token`` is its own inspector token."""

    actor_id: str
    name: str
    key: str
    create_ts: int
    token: str

    def public(self) -> dict[str, Any]:
        """The management API's view (never the token).

        camelCase like every other JSON answer of the server; the snake_case
        spellings stay beside them because clients of RivetKit's actor API
        read ``actor_id`` and ``create_ts``.
        """
        return {
            "actorId": self.actor_id,
            "name": self.name,
            "key": self.key,
            "createTs": self.create_ts,
            "actor_id": self.actor_id,
            "create_ts": self.create_ts,
        }


class ActorStore:
    """Actor records, state and spans in the data directory's SQLite file."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        private_dir(data_dir)
        private_dir(data_dir / "actors")
        self.db_path = data_dir / DB_FILE
        private_sqlite_file(self.db_path)
        self._kv = SQLiteDriver(self.db_path, _NAMESPACE)

    def workflow_driver(self, actor_id: str) -> SQLiteDriver:
        """The engine driver of ``actor_id``'s workflow (its own namespace)."""
        return self.driver(f"wf/{actor_id}")

    def driver(self, namespace: str) -> SQLiteDriver:
        """Any other namespace of the shared file (e.g. ``audit/{actorId}``).

        The caller closes it; the file's connection is shared either way.
        """
        return SQLiteDriver(self.db_path, namespace)

    def database_path(self, actor_id: str) -> Path:
        return self.data_dir / "actors" / f"{actor_id}.sqlite"

    def close(self) -> None:
        self._kv.close()

    def acquire_schedules(self) -> ScheduleStorage:
        """The schedule store (``schedule_store.py``); pair with :meth:`release_schedules`."""
        return acquire_schedule_store(self.db_path)

    def release_schedules(self) -> None:
        release_schedule_store(self.db_path)

    # records ---------------------------------------------------------------

    async def load_records(self) -> list[ActorRecord]:
        rows = await self._kv.list(b"rec/")
        return [ActorRecord(**unpack(value)) for _, value in rows]

    async def create(self, record: ActorRecord, state: Any) -> None:
        """Write a new actor's record and initial state in one transaction."""
        ops = [Set(_key("rec", record.actor_id), pack(attrs.asdict(record)))]
        if state is not None:
            ops.append(Set(_key("state", record.actor_id), pack(state)))
        await self.writer(record.actor_id).batch(ops)

    def retry_after(self, exc: BaseException) -> float | None:
        """Seconds before a workflow run that raised ``exc`` is tried again; ``None``: never.

        The SQLite file fails only for lasting reasons (disk full, a
        determinism error is the code's): the workflow waits for a replay.
        """
        return None

    def writer(self, actor_id: str) -> Any:
        """The driver writes for ``actor_id`` go through (a cluster store fences it)."""
        return self._kv

    # state -----------------------------------------------------------------

    async def load_state(self, actor_id: str) -> bytes | None:
        return await self._kv.get(_key("state", actor_id))

    async def save_state(self, actor_id: str, encoded: bytes) -> None:
        await self.writer(actor_id).set(_key("state", actor_id), encoded)

    def state_write(self, actor_id: str, encoded: bytes) -> Linked:
        """The state write as an op of another namespace's batch (a replay's restore)."""
        return Linked(self.writer(actor_id), [Set(_key("state", actor_id), encoded)])

    # spans -----------------------------------------------------------------

    async def load_spans(self, actor_id: str) -> list[tuple[int, Span]]:
        rows = await self._kv.list(_key("span", actor_id) + b"/")
        out = []
        for key, value in rows:
            seq = int(key.rsplit(b"/", 1)[1], 16)
            out.append((seq, Span.from_record(unpack(value))))
        return out

    async def save_span(self, actor_id: str, seq: int, span: Span, drop: list[int]) -> None:
        """Store span number ``seq`` and delete the spans numbered ``drop``."""
        ops: list[Set | Delete] = [Set(_span_key(actor_id, seq), pack(span.to_record()))]
        ops.extend(Delete(_span_key(actor_id, old)) for old in drop)
        await self.writer(actor_id).batch(ops)


def _key(kind: str, actor_id: str) -> bytes:
    return f"{kind}/{actor_id}".encode()


def _span_key(actor_id: str, seq: int) -> bytes:
    # Fixed-width hex so key order is sequence order.
    return f"span/{actor_id}/{seq:016x}".encode()
