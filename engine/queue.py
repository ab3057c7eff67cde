"""Queue messages: sending them, listing the pending ones, and ``ctx.queue``.

Messages are stored under ``q/<id>`` (see :mod:`.codec`) until
``ctx.queue.next`` takes one; ids only grow (``k/msg``), so FIFO per name is
id order. Sends to one driver must not run concurrently (``WorkflowRunner``
serializes them with a lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import codec
from .clock import Clock, SystemClock
from .codec import decode_value, encode_value
from .driver import Driver, Set
from .execution import Suspend, Uncharted
from .model import EntryMetadata, EntryStatus, MessageKind

if TYPE_CHECKING:
    from .context import WorkflowContext

__all__ = [
    "QueueMessage",
    "WorkflowQueue",
    "list_message_names",
    "list_messages",
    "send_message",
]


@attrs.frozen
class QueueMessage:
    """A pending message: ``value`` is the decoded user value."""

    id: int
    name: str
    value: Any
    created_at_ms: int


async def send_message(
    driver: Driver, name: str, value: Any, *, clock: Clock | None = None
) -> QueueMessage:
    """Enqueue ``value`` under ``name`` (one atomic batch) and return the message."""
    clock = clock or SystemClock()
    counter = await driver.get(codec.COUNTER_MSG)
    next_id = int(counter) if counter is not None else 0
    existing = await driver.list(codec.QUEUE)
    if existing:
        next_id = max(next_id, codec.key_number(existing[-1][0], codec.QUEUE) + 1)
    raw = codec.encode_value(value)
    now = clock.now_ms()
    await driver.batch(
        [
            Set(codec.int_key(codec.QUEUE, next_id), codec.encode_value([name, raw, now])),
            Set(codec.COUNTER_MSG, str(next_id + 1).encode()),
        ]
    )
    return QueueMessage(next_id, name, codec.decode_value(raw), now)


async def list_messages(driver: Driver) -> list[QueueMessage]:
    """Pending messages, oldest first."""
    out = []
    for key, value in await driver.list(codec.QUEUE):
        name, raw, created = codec.decode_value(value)
        out.append(
            QueueMessage(codec.key_number(key, codec.QUEUE), name, codec.decode_value(raw), created)
        )
    return out


async def list_message_names(driver: Driver) -> list[str]:
    """The names of the pending messages, oldest first, without decoding their values.

    What a bound per name needs: decoding every value (up to a request body
    each) on every send would make a full queue expensive to add to.
    """
    out = []
    for _, value in await driver.list(codec.QUEUE):
        name, _raw, _created = codec.decode_value(value)
        out.append(name)
    return out


class WorkflowQueue:
    """``ctx.queue``: durable receipt of messages sent to the workflow."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: WorkflowContext) -> None:
        self._ctx = ctx

    async def next(
        self, name: str, *, timeout: float | None = None, queue: str | None = None
    ) -> Any:
        """Take the oldest message sent under ``queue`` (default: ``name``).

        Messages sent before the workflow asks are kept, FIFO per name. With
        no message the run sleeps until one is sent; with ``timeout``
        (seconds, counted from the first time this entry waited) it returns
        ``None`` once the time is up. ``name`` is the entry's name: use a
        different one (or a loop) to take several messages.
        """
        ctx = self._ctx
        ex, store = ctx._ex, ctx._ex.store
        location, entry = ctx._enter(name, "message")
        now = ex.clock.now_ms()
        if entry is None:
            meta = EntryMetadata(EntryStatus.PENDING, last_attempt_at=now, created_at=now)
            entry = ctx._create(location, MessageKind(queue or name, b""), meta)
        assert isinstance(entry.kind, MessageKind)
        meta = store.meta[entry.id]
        if meta.status is EntryStatus.COMPLETED:
            return decode_value(entry.kind.message_data)
        if ex.discovering:
            raise Uncharted()
        queue_name = entry.kind.name
        message = store.take_message(queue_name)
        if message is not None:
            done = meta._replace(status=EntryStatus.COMPLETED, attempts=1, completed_at=now)
            store.update(entry, MessageKind(queue_name, message.value), done)
            await store.flush()
            return decode_value(message.value)
        deadline = None if timeout is None else meta.created_at + round(timeout * 1000)
        if deadline is not None and now >= deadline:
            done = meta._replace(
                status=EntryStatus.COMPLETED,
                error=f"timed out after {timeout}s",
                completed_at=now,
            )
            store.update(entry, MessageKind(queue_name, encode_value(None)), done)
            await store.flush()
            return None
        raise Suspend(deadline)
