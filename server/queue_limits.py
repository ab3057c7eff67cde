"""Bounds on a workflow's queue: per message name, and on how many names.

One bound for the whole queue let a flood of one name no workflow reads fill
it, after which the message a workflow *does* wait for (the demo order's
``approval``) was refused for good. So the bounds are:

* at most ``MAX_PER_NAME`` pending messages of one name (409 ``queue.full``);
* at most ``MAX_NAMES`` distinct names with pending messages (409
  ``queue.too_many_names``) — except that a name the workflow is waiting
  for right now (a pending ``ctx.queue.next``) is always let in, so no flood
  of other names can lock a waiting workflow out;
* names of at most ``MAX_NAME_LENGTH`` characters (400 ``request.invalid``).

The whole queue thus holds at most ``capacity()`` messages (plus those of
names being waited for), which is what ``QueueStatus.maxSize`` reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from . import errors

__all__ = ["MAX_NAMES", "MAX_NAME_LENGTH", "MAX_PER_NAME", "capacity", "check_send"]

#: Pending messages one name may have.
MAX_PER_NAME = 1000
#: Distinct names (not waited for) that may have pending messages.
MAX_NAMES = 32
#: Longest message name, in characters.
MAX_NAME_LENGTH = 256


def capacity() -> int:
    """The most messages the queue holds across names not waited for."""
    return MAX_PER_NAME * MAX_NAMES


def check_send(pending: Iterable[str], name: str, waiting: Collection[str]) -> None:
    """Refuse a send of ``name`` that would pass a bound.

    Args:
        pending: the names of the messages in the queue now.
        name: the name being sent.
        waiting: names the workflow waits for right now.

    Raises:
        InspectorError: 400 ``request.invalid`` (name too long), 409
            ``queue.full`` or 409 ``queue.too_many_names``.
    """
    if len(name) > MAX_NAME_LENGTH:
        raise errors.invalid_request(f"queue names are at most {MAX_NAME_LENGTH} characters")
    counts = Counter(pending)
    if counts[name] >= MAX_PER_NAME:
        raise errors.InspectorError(
            409, "queue", "full", f"the queue holds its maximum of {MAX_PER_NAME} {name!r} messages"
        )
    if name in counts or name in waiting:
        return
    others = sum(1 for queued in counts if queued not in waiting)
    if others >= MAX_NAMES:
        raise errors.InspectorError(
            409,
            "queue",
            "too_many_names",
            f"the queue holds messages of {MAX_NAMES} names no workflow waits for",
        )
