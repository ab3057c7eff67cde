"""Stable, human-readable paths for entry locations.

A location is a list of name indices and loop-iteration markers (ENGINE.md
"Entries and where they live"). Its path joins the names with ``/`` and
writes a marker as ``~N`` (``items/~1/reserve-1``). Names are escaped so a
path always parses back: ``%`` → ``%25``, ``/`` → ``%2F``, and a leading
``~`` → ``%7E``. Operator tooling addresses entries by path.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from .errors import StepNotFound
from .model import Location, LoopMarker
from .snapshot import HistorySnapshot

__all__ = ["format_location", "location_path", "resolve_path", "split_path"]


def _escape(name: str) -> str:
    out = name.replace("%", "%25").replace("/", "%2F")
    return "%7E" + out[1:] if out.startswith("~") else out


def _unescape(part: str) -> str:
    return part.replace("%2F", "/").replace("%7E", "~").replace("%25", "%")


def format_location(names: Sequence[str], location: Location) -> str:
    """The path of ``location`` given the name registry ``names``."""
    parts: list[str] = []
    for seg in location:
        if isinstance(seg, LoopMarker):
            parts.append(f"~{seg.iteration}")
        elif 0 <= seg < len(names):
            parts.append(_escape(names[seg]))
        else:
            parts.append(f"#{seg}")
    return "/".join(parts)


def location_path(snapshot: HistorySnapshot, entry_id: str) -> str:
    """The stable path of an entry, e.g. ``items/~1/reserve-1``.

    Raises:
        StepNotFound: no entry has that id.
    """
    entry = snapshot.by_id.get(entry_id)
    if entry is None:
        raise StepNotFound(entry_id)
    return format_location(snapshot.name_registry, entry.location)


def split_path(path: str) -> list[str]:
    """The unescaped parts of a path (markers stay ``~N``)."""
    return [part if part.startswith("~") else _unescape(part) for part in path.split("/")]


def resolve_path(snapshot: HistorySnapshot, path: str) -> str:
    """The id of the entry at ``path``.

    Raises:
        StepNotFound: nothing is at that path; the error lists the closest
            existing paths (``.closest``).
    """
    paths = {
        format_location(snapshot.name_registry, entry.location): entry.id
        for entry in snapshot.entries
    }
    found = paths.get(path.strip("/"))
    if found is not None:
        return found
    closest = tuple(difflib.get_close_matches(path, list(paths), n=5, cutoff=0.3))
    raise StepNotFound(path, closest)
