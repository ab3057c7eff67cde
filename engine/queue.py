"""Sending queue messages to a workflow and listing the pending ones.

Messages are stored under ``q/<id>`` (see :mod:`.codec`) until
``ctx.queue.next`` takes one; ids only grow (``k/msg``), so FIFO per name is
id order. Sends to one driver must not run concurrently (``WorkflowRunner``
serializes them with a lock).
"""

from __future__ import annotations

from typing import Any

import attrs

from . import codec
from .clock import Clock, SystemClock
from .driver import Driver, Set

__all__ = ["QueueMessage", "list_messages", "send_message"]


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
