"""``HistorySnapshot``: an immutable view of one workflow's history.

A snapshot shares its (frozen) entries and metadata with the live history,
so taking one costs a list copy, not a deep copy. Lookup indexes (by id, by
location) are built on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from .model import Entry, EntryMetadata, Location, WorkflowRecord

__all__ = ["HistorySnapshot"]


class HistorySnapshot:
    """The name registry, the entries in creation order and their metadata.

    Attributes:
        name_registry: names by index (locations hold indices into it).
        entries: entries sorted by creation sequence number.
        entry_metadata: metadata by entry id.
        workflow: the workflow-level record (state, output, error, wake time);
            not part of the §4 transport shape.
    """

    __slots__ = ("__dict__", "entries", "entry_metadata", "name_registry", "workflow")

    def __init__(
        self,
        name_registry: Sequence[str],
        entries: Sequence[Entry],
        entry_metadata: Mapping[str, EntryMetadata],
        workflow: WorkflowRecord | None = None,
    ) -> None:
        self.name_registry: tuple[str, ...] = tuple(name_registry)
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.entry_metadata: Mapping[str, EntryMetadata] = entry_metadata
        self.workflow: WorkflowRecord = workflow if workflow is not None else WorkflowRecord()

    @cached_property
    def by_id(self) -> Mapping[str, Entry]:
        """Entries by id."""
        return {entry.id: entry for entry in self.entries}

    @cached_property
    def by_location(self) -> Mapping[Location, Entry]:
        """Entries by location."""
        return {entry.location: entry for entry in self.entries}

    def path(self, entry_id: str) -> str:
        """The entry's stable path (see :func:`.paths.location_path`)."""
        from .paths import location_path

        return location_path(self, entry_id)

    def to_transport(self) -> dict[str, Any]:
        """PROTOCOL.md §4 history in the JSON form, ``data`` fields as raw bytes."""
        from .transport import snapshot_to_transport

        return snapshot_to_transport(self)

    @classmethod
    def from_transport(cls, obj: Mapping[str, Any]) -> HistorySnapshot:
        """Inverse of :meth:`to_transport` (entries get sequence numbers in list order)."""
        from .transport import snapshot_from_transport

        return snapshot_from_transport(obj)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistorySnapshot):
            return NotImplemented
        return (
            self.name_registry == other.name_registry
            and self.entries == other.entries
            and dict(self.entry_metadata) == dict(other.entry_metadata)
            and self.workflow == other.workflow
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"HistorySnapshot({len(self.entries)} entries, "
            f"{len(self.name_registry)} names, state={self.workflow.state.value})"
        )
