"""Bounds on the values the server accepts from the wire, and JSON parsing within them.

Every JSON body (``loads``) and every value the server stores or hands to
actor code (``check_value``: patched state, action arguments, queue
messages, whichever transport they came by) must be something the rest of
the server can carry without failing later, where the failure would be a
500 or a lost write:

* nested at most ``MAX_DEPTH`` lists/maps deep (a JSON body may be two
  levels deeper, for its envelope: ``{"args": [value]}``) — Python's recursion limit
  (``json``, ``copy.deepcopy``, MessagePack, the JSON renderer) is about
  1,000 frames, and some of them spend two frames per level;
* strings encodable as UTF-8 — JSON's ``"\\ud800"`` is valid JSON but a lone
  surrogate cannot be stored (MessagePack, SQLite) or answered;
* integers MessagePack can store (``-2**63 <= n < 2**64``).

A value outside them is refused as 400 ``request.invalid`` (an ``Error``
frame with that code over WebSocket), never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from . import errors

__all__ = ["MAX_BODY_DEPTH", "MAX_DEPTH", "MAX_INT", "MIN_INT", "check_value", "loads"]

#: Deepest nesting of lists and maps in a value (state, argument, message).
MAX_DEPTH = 100
#: Deepest nesting of a JSON body: a value at MAX_DEPTH inside its envelope.
MAX_BODY_DEPTH = MAX_DEPTH + 2
#: The integer range MessagePack stores (int64 .. uint64).
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1


def loads(body: bytes | str, *, what: str = "the JSON body") -> Any:
    """Parse JSON within the bounds above.

    Raises:
        InspectorError: 400 ``request.invalid`` for malformed JSON or a value
            out of bounds.
    """
    try:
        value = json.loads(body)
    except RecursionError:
        # The C scanner guards its recursion, so this is a clean refusal.
        raise errors.invalid_request(f"{what} is nested deeper than {MAX_BODY_DEPTH}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_request(f"malformed JSON: {exc}") from exc
    check_value(value, what, max_depth=MAX_BODY_DEPTH)
    return value


def check_value(value: Any, what: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse ``value`` unless it is within the bounds above (iteratively: any depth is safe).

    Raises:
        InspectorError: 400 ``request.invalid`` naming ``what`` and the problem.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_str(item, what)
        elif isinstance(item, bool) or item is None or isinstance(item, float | bytes):
            continue
        elif isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                bits = item.bit_length()
                raise errors.invalid_request(
                    f"{what} is not serializable: an integer out of range ({bits} bits)"
                )
        elif isinstance(item, list | tuple | dict):
            if depth >= max_depth:
                raise errors.invalid_request(f"{what} is nested deeper than {max_depth}")
            if isinstance(item, dict):
                for key, child in item.items():
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_str(text: str, what: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid_request(
            f"{what} has a string that is not valid Unicode (a lone surrogate)"
        ) from None
