"""What restoring an actor's state would change: a small structural diff of JSON values.

A replay dry run with ``restoreState`` answers the changes from the current
state to the checkpoint it would restore, one per differing leaf::

    {"path": ["timeline", 3], "op": "remove", "from": "ship"}
    {"path": ["count"], "op": "replace", "from": 7, "to": 2}

``path`` is a list of object keys and list indices from the root (``[]`` is
the whole value); ``op`` is ``add`` (only in the restored state), ``remove``
(only in the current one) or ``replace``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_CHANGES", "state_diff"]

#: Changes listed at most (a dry run stays small whatever the state).
MAX_CHANGES = 200


def state_diff(current: Any, restored: Any, *, limit: int = MAX_CHANGES) -> list[dict[str, Any]]:
    """The changes turning ``current`` into ``restored`` (at most ``limit``)."""
    out: list[dict[str, Any]] = []
    try:
        _walk([], current, restored, out, limit)
    except RecursionError:
        # Deeper than the walk can go: show the whole state replaced.
        return [{"path": [], "op": "replace", "from": current, "to": restored}]
    return out


def _walk(path: list[Any], old: Any, new: Any, out: list[dict[str, Any]], limit: int) -> None:
    # Recursive: stored states are shallow in practice; a pathological depth
    # ends in RecursionError, which state_diff turns into one whole change.
    if len(out) >= limit or _same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                _add(out, limit, {"path": [*path, key], "op": "remove", "from": old[key]})
        for key, value in new.items():
            if key not in old:
                _add(out, limit, {"path": [*path, key], "op": "add", "to": value})
            else:
                _walk([*path, key], old[key], value, out, limit)
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(min(len(old), len(new))):
            _walk([*path, i], old[i], new[i], out, limit)
        for i in range(len(new), len(old)):
            _add(out, limit, {"path": [*path, i], "op": "remove", "from": old[i]})
        for i in range(len(old), len(new)):
            _add(out, limit, {"path": [*path, i], "op": "add", "to": new[i]})
        return
    _add(out, limit, {"path": path, "op": "replace", "from": old, "to": new})


def _same(old: Any, new: Any) -> bool:
    # 1 == True in Python; a state that turned a number into a boolean changed.
    return type(old) is type(new) and bool(old == new)


def _add(out: list[dict[str, Any]], limit: int, change: dict[str, Any]) -> None:
    if len(out) < limit:
        out.append(change)
