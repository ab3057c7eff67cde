"""User values and workflow histories in the HTTP API's JSON (PROTOCOL.md §8).

User values are stored MessagePack-encoded; JSON cannot carry all of them
(bytes, non-string map keys, NaN). §8 asks for "null where a value has no
JSON form": the parts without one become ``null``, the rest stays readable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .store import unpack

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = ["decode_json_value", "history_to_json", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """``value`` with every part JSON cannot carry replaced by ``None``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return None
        return {k: to_jsonable(v) for k, v in value.items()}
    return None


def decode_json_value(data: bytes, decode: Callable[[bytes], Any] = unpack) -> Any:
    """Decode stored user-value bytes to JSON (``None`` when they do not decode)."""
    try:
        return to_jsonable(decode(data))
    except Exception:
        return None


def history_to_json(snapshot: HistorySnapshot) -> dict[str, Any]:
    """The §8 JSON form of a workflow history, user values decoded.

    Built through the wire model (``protocol.history.WorkflowHistory``) so the
    JSON has exactly the field names and union shapes of the §4 payload.
    """
    from actorscope.protocol.history import WorkflowHistory
    from actorscope.protocol.jsonform import from_json, to_json

    wire = from_json(WorkflowHistory, snapshot.to_transport(), data=lambda b: b)
    out: dict[str, Any] = to_json(wire, data=decode_json_value)
    return out
