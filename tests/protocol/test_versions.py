"""The version table (protocol/versions.py) against the spec's tables (PROTOCOL.md §3, §9.3)."""

from __future__ import annotations

import pytest
from actorscope.protocol import body_classes
from actorscope.protocol.framing import codec
from actorscope.protocol.versions import (
    EMBEDDED_FIRST_VERSION,
    MESSAGE_VERSIONS,
    NEWEST_VERSION,
    VERSION_CHECK_ENTRIES_SINCE,
    VERSIONS,
    exists,
    messages_at,
    since,
)

# First version of each message, and the last for those that were dropped,
# written from the spec tables (not from the schemas the table reads).
FIRST = {
    "PatchStateRequest": 1, "StateRequest": 1, "ConnectionsRequest": 1, "ActionRequest": 1,
    "RpcsListRequest": 1, "EventsRequest": 1, "ClearEventsRequest": 1,
    "TraceQueryRequest": 2, "QueueRequest": 2, "WorkflowHistoryRequest": 2,
    "DatabaseSchemaRequest": 3, "DatabaseTableRowsRequest": 3, "WorkflowReplayRequest": 4,
    "SchedulesRequest": 6, "ScheduleHistoryRequest": 6, "ScheduleDeleteRequest": 6,
    "StateResponse": 1, "ConnectionsResponse": 1, "ActionResponse": 1, "ConnectionsUpdated": 1,
    "StateUpdated": 1, "RpcsListResponse": 1, "Error": 1, "Init": 1,
    "EventsResponse": 1, "EventsUpdated": 1,
    "QueueUpdated": 2, "WorkflowHistoryUpdated": 2, "TraceQueryResponse": 2,
    "QueueResponse": 2, "WorkflowHistoryResponse": 2,
    "DatabaseSchemaResponse": 3, "DatabaseTableRowsResponse": 3, "WorkflowReplayResponse": 4,
    "SchedulesUpdated": 6, "SchedulesResponse": 6, "ScheduleHistoryResponse": 6,
    "ScheduleDeleteResponse": 6,
}
V1_ONLY = {"EventsRequest", "ClearEventsRequest", "EventsResponse", "EventsUpdated"}


def test_newest_is_6_and_versions_are_contiguous() -> None:
    assert NEWEST_VERSION == 6  # PROTOCOL.md §9.1
    assert tuple(range(1, NEWEST_VERSION + 1)) == VERSIONS


def test_every_message_and_its_versions() -> None:
    assert set(MESSAGE_VERSIONS) == set(FIRST)
    for name, first in FIRST.items():
        last = 1 if name in V1_ONLY else NEWEST_VERSION
        assert MESSAGE_VERSIONS[name] == tuple(range(first, last + 1)), name
        assert since(name) == first
        assert exists(name, first) and not exists(name, first - 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_table_names_are_the_codec_union_members(version: int) -> None:
    for direction in ("to_server", "to_client"):
        names = [codec(version).names[c] for c in body_classes(direction, version)]
        assert list(messages_at(direction, version)) == names


def test_policy_versions_of_section_9_8() -> None:
    assert EMBEDDED_FIRST_VERSION == 4
    assert VERSION_CHECK_ENTRIES_SINCE == 5
    with pytest.raises(KeyError):
        since("NoSuchMessage")
    assert not exists("NoSuchMessage", NEWEST_VERSION)
