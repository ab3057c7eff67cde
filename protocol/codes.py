"""The stable ``Error`` codes of version conversion (PROTOCOL.md §5, §9.5, §9.8).

The ``Error.message`` of a converted message is exactly one of these strings.
"""

from __future__ import annotations

__all__ = [
    "DATABASE_DROPPED",
    "DATABASE_UNSUPPORTED",
    "EVENTS_DROPPED",
    "INVALID_FRAME",
    "QUEUE_DROPPED",
    "QUEUE_UNSUPPORTED",
    "SCHEDULES_DROPPED",
    "SCHEDULES_UNSUPPORTED",
    "TRACE_DROPPED",
    "TRACE_UNSUPPORTED",
    "WORKFLOW_HISTORY_DROPPED",
    "WORKFLOW_HISTORY_UNSUPPORTED",
    "WORKFLOW_REPLAY_UNSUPPORTED",
]

# Responses and pushes that an older peer cannot receive.
WORKFLOW_HISTORY_DROPPED = "inspector.workflow_history_dropped"
DATABASE_DROPPED = "inspector.database_dropped"
QUEUE_DROPPED = "inspector.queue_dropped"
TRACE_DROPPED = "inspector.trace_dropped"
SCHEDULES_DROPPED = "inspector.schedules_dropped"
# v1 event-log messages, meaningless in v2+.
EVENTS_DROPPED = "inspector.events_dropped"
# Requests that a server capped below their version cannot serve.
WORKFLOW_REPLAY_UNSUPPORTED = "inspector.workflow_replay_unsupported"
DATABASE_UNSUPPORTED = "inspector.database_unsupported"
QUEUE_UNSUPPORTED = "inspector.queue_unsupported"
TRACE_UNSUPPORTED = "inspector.trace_unsupported"
WORKFLOW_HISTORY_UNSUPPORTED = "inspector.workflow_history_unsupported"
SCHEDULES_UNSUPPORTED = "inspector.schedules_unsupported"
# A frame that does not decode; the server appends ": <short reason>".
INVALID_FRAME = "inspector.invalid_frame"
