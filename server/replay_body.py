"""The body of ``POST /inspector/workflow/replay``, checked whole before anything happens.

A replay whose audit record could not be written must never start, so every
field is checked here first — types, lengths, and text that can be stored
(a lone surrogate is valid JSON but not UTF-8). Every transport's replay
goes through :meth:`ReplayRequestBody.from_json` (``replay_ops``).
"""

from __future__ import annotations

from typing import Any

import attrs

from . import errors
from .audit import reason_problem

__all__ = ["MAX_ENTRY_ID_CHARS", "MAX_STEP_PATH_CHARS", "ReplayRequestBody"]

#: Longest entry id and step path a replay body may name (characters).
MAX_ENTRY_ID_CHARS = 128
MAX_STEP_PATH_CHARS = 1000


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid_request(f"{name!r} must be a string or null")
    if len(value) > limit:
        raise errors.invalid_request(f"{name!r} is {len(value)} characters long; at most {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.invalid_request(
            f"{name!r} is not valid Unicode text (it holds a lone surrogate)"
        ) from None
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise errors.invalid_request(f"{name!r} must be a boolean")
    return value


@attrs.frozen
class ReplayRequestBody:
    """The body of ``POST /inspector/workflow/replay`` (docs/PROTOCOL.md §8 plus operator fields).

    Every field is checked here, before anything happens: a replay whose
    audit record could not be written is never started.
    """

    entry_id: str | None = None
    step: str | None = None
    dry_run: bool = False
    reason: str | None = None
    audit_refusal: bool = False
    restore_state: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ReplayRequestBody:
        """Check types, lengths and text; refusals are 400 ``request.invalid``."""
        entry_id = _text(body, "entryId", MAX_ENTRY_ID_CHARS)
        step = _text(body, "step", MAX_STEP_PATH_CHARS)
        if step is not None and not step.strip("/"):
            raise errors.invalid_request("'step' must be a non-empty location path")
        if entry_id is not None and step is not None:
            raise errors.invalid_request("give 'entryId' or 'step', not both")
        dry_run = _flag(body, "dryRun")
        problem = reason_problem(body.get("reason"))
        if problem is not None:
            raise errors.invalid_request(problem)
        reason = body.get("reason")
        audit_refusal = _flag(body, "auditRefusal")
        restore_state = _flag(body, "restoreState")
        if audit_refusal and not dry_run:
            raise errors.invalid_request(
                "'auditRefusal' applies to a dry run (a replay's refusals are always audited)"
            )
        return cls(
            entry_id=entry_id,
            step=step,
            dry_run=dry_run,
            reason=reason,
            audit_refusal=audit_refusal,
            restore_state=restore_state,
        )
