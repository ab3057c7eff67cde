"""A live actor instance: state, actions, connections, traces, database, workflow.

``ActorInstance`` implements the inspector façade (``ActorInspector`` in
``inspector_api.py``), so the HTTP API and the WebSocket inspector see exactly
the same actor. Changes are announced to subscribers as ``InspectorEvent``s:
state (after each action, patch or workflow write that changed its encoding),
connections, queue size, workflow history and schedules (``schedules.py``).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.protocol.values import ValueCodec

from . import errors
from .database import ActorDatabase
from .definitions import ActorDefinition
from .inspector_api import (
    ConnectionInfo,
    ConnectionsChanged,
    CredentialClass,
    InspectorEvent,
    QueueInfo,
    ScheduleFireInfo,
    ScheduleInfo,
    StateChanged,
    TraceResult,
)
from .jsonbounds import check_value
from .schedule_api import ScheduleApi
from .schedules import ActorSchedules
from .store import ActorRecord, ActorStore, pack, unpack
from .traces import DEFAULT_TRACE_CAPACITY, Span, TraceBuffer, spans_to_otlp
from .workflow_host import WorkflowHost

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = ["ActorInstance", "EventSink"]

log = logging.getLogger("actorscope.server")


class EventSink(Protocol):
    """A client connection as the actor sees it (``gateway.py``)."""

    @property
    def info(self) -> ConnectionInfo: ...

    def send_event(self, name: str, args: list[Any]) -> None: ...


class _Context:
    """The ``ActorContext`` handed to actions and workflow code."""

    def __init__(self, actor: ActorInstance, connection: EventSink | None = None) -> None:
        self._actor = actor
        self.connection = connection

    @property
    def actor_id(self) -> str:
        return self._actor.actor_id

    @property
    def name(self) -> str:
        return self._actor.record.name

    @property
    def key(self) -> str:
        return self._actor.record.key

    @property
    def state(self) -> Any:
        if not self._actor.is_state_enabled:
            raise errors.state_not_enabled()
        return self._actor.live_state

    @state.setter
    def state(self, value: Any) -> None:
        if not self._actor.is_state_enabled:
            raise errors.state_not_enabled()
        self._actor.live_state = value

    async def save_state(self) -> None:
        await self._actor.save_state()

    def broadcast(self, event: str, *args: Any) -> None:
        self._actor.broadcast(event, list(args))

    @property
    def db(self) -> sqlite3.Connection:
        if self._actor.database is None:
            raise errors.database_not_enabled()
        return self._actor.database.conn

    @property
    def schedule(self) -> ScheduleApi:
        return ScheduleApi(self._actor.scheduler)


class ActorInstance:
    """One actor, addressed by ``record.actor_id``."""

    def __init__(
        self,
        record: ActorRecord,
        definition: ActorDefinition,
        store: ActorStore,
        *,
        trace_capacity: int = DEFAULT_TRACE_CAPACITY,
        keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    ) -> None:
        self.record = record
        self.definition = definition
        self._store = store
        self.live_state: Any = None
        self._state_bytes: bytes | None = None
        # The state's wire bytes per value codec, for the _state_bytes they
        # were made from (a new saved state starts a new cache).
        self._wire_state: tuple[bytes | None, dict[ValueCodec, bytes]] = (None, {})
        self._listeners: list[Callable[[InspectorEvent], None]] = []
        self._connections: dict[str, EventSink] = {}
        # One action at a time; a replay restoring the state holds it too.
        self.action_lock = asyncio.Lock()
        self._trace_capacity = trace_capacity
        self._keep_attempts = keep_attempts
        self._span_seqs: deque[int] = deque()
        self._next_span_seq = 0
        self._pending: set[asyncio.Task[None]] = set()
        self._traces = TraceBuffer(trace_capacity, on_record=self._persist_span)
        self.database: ActorDatabase | None = None
        self.workflow: WorkflowHost | None = None
        self.scheduler = ActorSchedules(self, store.db_path)

    # lifecycle --------------------------------------------------------------

    async def open(self) -> None:
        """Load state and spans, open the database, start the workflow."""
        if self.is_state_enabled:
            stored = await self._store.load_state(self.actor_id)
            if stored is None:
                stored = pack(self.definition.initial_state)
                await self._store.save_state(self.actor_id, stored)
            self._state_bytes = stored
            self.live_state = unpack(stored)
        spans = await self._store.load_spans(self.actor_id)
        self._traces.load(span for _, span in spans)
        self._span_seqs.extend(seq for seq, _ in spans)
        self._next_span_seq = spans[-1][0] + 1 if spans else 0
        if self.definition.database is not None:
            self.database = ActorDatabase(
                self._store.database_path(self.actor_id), self.definition.database
            )
        if self.definition.workflow is not None:
            self.workflow = WorkflowHost(
                self, self.definition.workflow, self._store, keep_attempts=self._keep_attempts
            )
            await self.workflow.start()
        await self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()
        if self.workflow is not None:
            await self.workflow.stop()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.database is not None:
            self.database.close()

    def context(self) -> _Context:
        """The ``ActorContext`` of workflow code (no caller connection)."""
        return _Context(self)

    # façade: flags ----------------------------------------------------------

    @property
    def actor_id(self) -> str:
        return self.record.actor_id

    @property
    def is_state_enabled(self) -> bool:
        return self.definition.is_state_enabled

    @property
    def is_database_enabled(self) -> bool:
        return self.definition.database is not None

    @property
    def is_workflow_enabled(self) -> bool:
        return self.definition.workflow is not None

    # state --------------------------------------------------------------------

    def state(self) -> Any:
        """The last saved state (a copy, safe to hand to a transport)."""
        if self._state_bytes is None:
            return None
        return unpack(self._state_bytes)

    def encoded_state(self, codec: ValueCodec) -> bytes:
        source, encoded = self._wire_state
        if source is not self._state_bytes:
            source, encoded = self._wire_state = (self._state_bytes, {})
        out = encoded.get(codec)
        if out is None:
            out = encoded[codec] = codec.encode(self.state())
        return out

    async def patch_state(self, value: Any) -> None:
        if not self.is_state_enabled:
            raise errors.state_not_enabled()
        check_value(value, "state")  # before deepcopy and pack, which recurse
        try:
            pack(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise errors.invalid_request(f"state is not serializable: {exc}") from exc
        self.live_state = copy.deepcopy(value)
        await self.save_state()

    async def save_state(self) -> None:
        """Persist the live state if its encoding changed, then push ``StateUpdated``."""
        if not self.is_state_enabled:
            return
        try:
            encoded = pack(self.live_state)
        except (TypeError, ValueError, OverflowError):
            # Never persist what cannot be read back: restore the last good state.
            assert self._state_bytes is not None
            self.live_state = unpack(self._state_bytes)
            raise
        if encoded == self._state_bytes:
            return
        await self._store.save_state(self.actor_id, encoded)
        self._state_bytes = encoded
        self.emit(StateChanged(unpack(encoded)))

    def encoded_live_state(self) -> bytes:
        """The live state encoded (a workflow step's state checkpoint)."""
        return pack(self.live_state)

    def state_restored(self, encoded: bytes) -> None:
        """A replay wrote ``encoded`` as the stored state: make it the live state too."""
        self._state_bytes = encoded
        self.live_state = unpack(encoded)
        self.emit(StateChanged(unpack(encoded)))

    # connections --------------------------------------------------------------

    def connections(self) -> list[ConnectionInfo]:
        return [sink.info for sink in self._connections.values()]

    def add_connection(self, sink: EventSink) -> None:
        self._connections[sink.info.id] = sink
        self.emit(ConnectionsChanged(self.connections()))

    def remove_connection(self, connection_id: str) -> None:
        if self._connections.pop(connection_id, None) is not None:
            self.emit(ConnectionsChanged(self.connections()))

    def broadcast(self, event: str, args: list[Any]) -> None:
        for sink in list(self._connections.values()):
            sink.send_event(event, args)

    # actions ------------------------------------------------------------------

    def rpcs(self) -> list[str]:
        return sorted(self.definition.actions)

    def has_action(self, name: str) -> bool:
        return name in self.definition.actions

    async def call_action(self, name: str, args: list[Any]) -> Any:
        return await self.invoke(name, args, transport="inspector")

    async def invoke(
        self, name: str, args: list[Any], *, transport: str, connection: EventSink | None = None
    ) -> Any:
        """Run action ``name``; one action at a time per actor (actor semantics).

        Raises ``action_not_found``, or ``action_failed`` wrapping what the
        action raised; either way a span is recorded.
        """
        fn = self.definition.actions.get(name)
        if fn is None:
            raise errors.action_not_found(name)
        for arg in args:
            check_value(arg, "an action argument")
        attributes: dict[str, Any] = {
            "actorscope.kind": "action",
            "action.name": name,
            "action.transport": transport,
        }
        if connection is not None:
            attributes["connection.id"] = connection.info.id
        start = time.time_ns()
        async with self.action_lock:
            try:
                result = fn(_Context(self, connection), *args)
                if inspect.isawaitable(result):
                    result = await result
                pack(result)  # the output must cross the wire
                await self.save_state()
            except errors.InspectorError as exc:
                self._span(name, start, "error", exc.message, attributes)
                raise
            except Exception as exc:
                self._span(name, start, "error", f"{type(exc).__name__}: {exc}", attributes)
                raise errors.action_failed(name, exc) from exc
        self._span(name, start, "ok", None, attributes)
        return result

    # traces ---------------------------------------------------------------------

    def _span(
        self, name: str, start_ns: int, status: str, message: str | None, attrs: dict[str, Any]
    ) -> None:
        self._traces.record(Span(name, start_ns, time.time_ns(), status, message, attrs))

    def record_span(self, span: Span) -> None:
        self._traces.record(span)

    def _persist_span(self, span: Span) -> None:
        seq = self._next_span_seq
        self._next_span_seq += 1
        self._span_seqs.append(seq)
        drop = []
        while len(self._span_seqs) > self._trace_capacity:
            drop.append(self._span_seqs.popleft())
        self.spawn(self._store.save_span(self.actor_id, seq, span, drop))

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background; ``close`` waits for it.

        Tasks start in creation order, so store writes keep their order.
        """
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("actor %s: background write failed", self.actor_id, exc_info=task.exception())

    async def traces(self, start_ms: int, end_ms: int, limit: int) -> TraceResult:
        spans, clamped = self._traces.query(start_ms, end_ms, limit)
        resource = {
            "service.name": "actorscope",
            "actor.id": self.actor_id,
            "actor.name": self.record.name,
            "actor.key": self.record.key,
        }
        return TraceResult(spans_to_otlp(spans, resource), clamped)

    # queue and workflow -------------------------------------------------------

    async def queue_status(self, limit: int) -> QueueInfo:
        if self.workflow is None:
            return QueueInfo(0, 0, [], False)
        return await self.workflow.queue_status(limit)

    async def enqueue(self, name: str, value: Any) -> None:
        if self.workflow is None:
            raise errors.workflow_not_enabled()
        check_value(value, "the message")
        await self.workflow.send(name, value)

    async def workflow_history(self) -> HistorySnapshot | None:
        if self.workflow is None:
            return None
        return await self.workflow.history()

    async def replay(
        self, entry_id: str | None, *, credential: CredentialClass, transport: str
    ) -> HistorySnapshot:
        if self.workflow is None:
            raise errors.workflow_not_enabled()
        log.info(
            "actor %s: replay from %s requested over %s (%s credential)",
            self.actor_id,
            entry_id or "the start",
            transport,
            credential,
        )
        outcome = await self.workflow.operator.replay(
            entry_id, credential=credential, transport=transport
        )
        return outcome.snapshot

    # database -------------------------------------------------------------------

    async def database_schema(self) -> Any:
        if self.database is None:
            raise errors.database_not_enabled()
        return self.database.schema()

    async def database_rows(self, table: str, limit: int, offset: int) -> list[dict[str, Any]]:
        if self.database is None:
            raise errors.database_not_enabled()
        return self.database.rows(table, limit, offset)

    # schedules (schedules.py) ---------------------------------------------------

    async def schedules(self) -> list[ScheduleInfo]:
        return self.scheduler.schedules()

    async def schedule_history(self, schedule_id: str, limit: int) -> list[ScheduleFireInfo]:
        return self.scheduler.history(schedule_id, limit)

    async def delete_schedule(self, schedule_id: str, kind: str) -> bool:
        return self.scheduler.delete(schedule_id, kind)

    # subscriptions --------------------------------------------------------------

    def subscribe(self, listener: Callable[[InspectorEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: InspectorEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # One broken subscriber must not stop the others or the actor.
                log.exception("actor %s: inspector listener failed", self.actor_id)
