"""Replay as an operator uses it: by path, dry run, with a reason, audited, archived.

Issue #5 "Replay features beyond the protocol". The v1-v4 WebSocket messages
stay as PROTOCOL.md specifies; these features live in the HTTP API and the
CLI. Both transports replay through ``ReplayOperator.replay`` (the actor
façade's ``replay`` delegates to it), so every replay — and every refusal —
lands in the audit log, whichever transport asked:

* **target by path** — ``{"step": "items/~1/reserve-1"}`` is resolved to the
  current entry id (engine ``resolve_path``); unknown → 404
  ``workflow.step_not_found`` naming the closest existing paths;
* **dry run** — ``{"dryRun": true}`` answers the boundary and the entries
  that would be discarded (engine ``plan_replay``) and changes nothing. A
  dry run is a preview, not a replay, and is not audited — except that a dry
  run sent with ``"auditRefusal": true`` and refused is audited as a refused
  replay with ``dryRun: true``. ``actorscope inspect replay`` (without
  ``--dry-run``) previews that way before asking for confirmation, so a
  replay the operator asked for and the server refused at the preview
  (unknown path, a target that is not a step, a replay in flight) is in the
  audit like one refused by the replay request itself, and the flag says
  nothing reached the workflow. A plain preview (``--dry-run``) stays out of
  the audit: it was never a replay attempt;
* **reason and audit** — ``server/audit.py``;
* **archived attempts** — the engine archives what a replay discards as
  attempt N (``list_attempts`` / ``load_attempt``); ``GET
  /inspector/workflow-history?attempt=N`` reads one back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from actorscope.engine import EngineError
from actorscope.engine.attempts import AttemptInfo, AttemptNotFound, list_attempts, load_attempt
from actorscope.engine.driver import Driver
from actorscope.engine.errors import ReplayInFlight, ReplayTargetNotStep, StepNotFound
from actorscope.engine.model import kind_name
from actorscope.engine.paths import resolve_path
from actorscope.engine.replay import plan_replay

from . import errors
from .audit import ReplayAudit, ReplayAuditRecord

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = [
    "ReplayOperator",
    "ReplayOutcome",
    "ReplayRequestBody",
    "ReplayTarget",
    "attempt_info_json",
    "engine_refusal",
    "entry_view",
]


class ReplayTarget(Protocol):
    """What the operator needs of an actor's workflow (the server's workflow host)."""

    async def history(self) -> HistorySnapshot: ...

    async def replay(self, entry_id: str | None) -> HistorySnapshot: ...


@attrs.frozen
class ReplayRequestBody:
    """The body of ``POST /inspector/workflow/replay`` (PROTOCOL.md §8 plus issue #5)."""

    entry_id: str | None = None
    step: str | None = None
    dry_run: bool = False
    reason: str | None = None
    audit_refusal: bool = False

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ReplayRequestBody:
        """Check the types; refusals are 400 ``request.invalid``."""
        entry_id, step = body.get("entryId"), body.get("step")
        dry_run, reason = body.get("dryRun", False), body.get("reason")
        if entry_id is not None and not isinstance(entry_id, str):
            raise errors.invalid_request("'entryId' must be a string or null")
        if step is not None and (not isinstance(step, str) or not step.strip("/")):
            raise errors.invalid_request("'step' must be a non-empty location path")
        if entry_id is not None and step is not None:
            raise errors.invalid_request("give 'entryId' or 'step', not both")
        if not isinstance(dry_run, bool):
            raise errors.invalid_request("'dryRun' must be a boolean")
        if reason is not None and not isinstance(reason, str):
            raise errors.invalid_request("'reason' must be a string")
        audit_refusal = body.get("auditRefusal", False)
        if not isinstance(audit_refusal, bool):
            raise errors.invalid_request("'auditRefusal' must be a boolean")
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
        )


@attrs.frozen
class ReplayOutcome:
    """A replay that happened: the history right after the rewind, and what it cost."""

    snapshot: HistorySnapshot
    boundary: dict[str, Any] | None
    discarded: int
    attempt: int | None
    record: ReplayAuditRecord


def engine_refusal(exc: EngineError) -> errors.InspectorError:
    """The §8 status and code of an engine refusal (never a bare 500)."""
    match exc:
        case StepNotFound():
            return errors.step_not_found(str(exc))
        case ReplayTargetNotStep():
            return errors.replay_target_not_step(str(exc))
        case ReplayInFlight():
            return errors.replay_in_flight(str(exc))
    return errors.InspectorError(409, "workflow", "replay_refused", str(exc))


def entry_view(snapshot: HistorySnapshot, entry_id: str) -> dict[str, Any]:
    """``{"entryId", "path", "kind", "status"}`` of one entry."""
    entry = snapshot.by_id[entry_id]
    meta = snapshot.entry_metadata.get(entry_id)
    return {
        "entryId": entry_id,
        "path": snapshot.path(entry_id),
        "kind": kind_name(entry.kind),
        "status": None if meta is None else str(meta.status.value),
    }


class ReplayOperator:
    """Path targeting, dry runs, audit and archived attempts for one actor's workflow.

    Args:
        target: the actor's workflow (``history()`` / ``replay(entry_id)``).
        audit: the actor's replay log.
        driver: the workflow's engine driver (where attempts are archived).
        history_json: renders a snapshot in the §8 JSON form (user values decoded).
    """

    def __init__(
        self,
        target: ReplayTarget,
        audit: ReplayAudit,
        driver: Driver,
        history_json: Callable[[HistorySnapshot], dict[str, Any]],
    ) -> None:
        self._target = target
        self.audit = audit
        self._driver = driver
        self.history_json = history_json

    async def resolve(self, entry_id: str | None, step: str | None) -> str | None:
        """The entry id a request targets (``None``: from the start)."""
        if step is None:
            return entry_id
        snapshot = await self._target.history()
        try:
            return resolve_path(snapshot, step.strip("/"))
        except StepNotFound as exc:
            closest = ", ".join(exc.closest) if exc.closest else "none"
            raise errors.step_not_found(
                f"no workflow entry at path {step!r}; closest existing paths: {closest}"
            ) from None

    async def dry_run(self, entry_id: str | None = None, step: str | None = None) -> dict[str, Any]:
        """What a replay would do, as the HTTP API answers it; changes nothing."""
        target = await self.resolve(entry_id, step)
        snapshot = await self._target.history()
        try:
            plan = plan_replay(snapshot, target)
        except EngineError as exc:
            raise engine_refusal(exc) from None
        boundary = plan.boundary_id
        return {
            "dryRun": True,
            "target": None if target is None else entry_view(snapshot, target),
            "boundary": None if boundary is None else entry_view(snapshot, boundary),
            "discard": [entry_view(snapshot, d) for d in plan.discarded_ids],
            "history": self.history_json(snapshot),
        }

    async def preview(
        self, body: ReplayRequestBody, *, credential: str, transport: str
    ) -> dict[str, Any]:
        """A dry-run request: ``dry_run``, and with ``audit_refusal`` a refusal audited.

        The refusal is recorded as a refused replay with ``dry_run=True`` (see
        the module docstring: the preview of a replay the operator asked for).
        """
        try:
            return await self.dry_run(body.entry_id, body.step)
        except errors.InspectorError as exc:
            if body.audit_refusal:
                await self._audit_refusal(
                    exc,
                    target={"entryId": body.entry_id, "step": body.step},
                    boundary=None,
                    reason=body.reason,
                    credential=credential,
                    transport=transport,
                    dry_run=True,
                )
            raise

    async def replay(
        self,
        entry_id: str | None = None,
        *,
        step: str | None = None,
        reason: str | None = None,
        credential: str,
        transport: str,
    ) -> ReplayOutcome:
        """Rewind the workflow and audit it; a refusal is audited, then raised.

        Raises:
            InspectorError: ``workflow.step_not_found`` (404),
                ``workflow.replay_target_not_step`` (400),
                ``workflow.replay_in_flight`` (409).
        """
        target_json = {"entryId": entry_id, "step": step}
        boundary: dict[str, Any] | None = None
        discarded = 0

        try:
            resolved = await self.resolve(entry_id, step)
            before = await self._target.history()
            try:
                plan = plan_replay(before, resolved)
            except EngineError as exc:
                raise engine_refusal(exc) from None
            if plan.boundary_id is not None:
                boundary = entry_view(before, plan.boundary_id)
            discarded = len(plan.discarded_ids)
            if step is not None:
                target_json["entryId"] = resolved
            archived_before = await self._last_attempt()
            try:
                after = await self._target.replay(resolved)
            except EngineError as exc:
                raise engine_refusal(exc) from None
        except errors.InspectorError as exc:
            await self._audit_refusal(
                exc,
                target=target_json,
                boundary=boundary,
                reason=reason,
                credential=credential,
                transport=transport,
            )
            raise exc from None
        last = await self._last_attempt()
        attempt = last if last is not None and last != archived_before else None
        record = await self.audit.append(
            transport=transport,
            credential=credential,
            target=target_json,
            boundary=boundary,
            discarded=discarded,
            reason=reason,
            result="done",
            attempt=attempt,
        )
        return ReplayOutcome(after, boundary, discarded, attempt, record)

    async def _audit_refusal(
        self,
        exc: errors.InspectorError,
        *,
        target: dict[str, Any],
        boundary: dict[str, Any] | None,
        reason: str | None,
        credential: str,
        transport: str,
        dry_run: bool = False,
    ) -> None:
        await self.audit.append(
            transport=transport,
            credential=credential,
            target=target,
            boundary=boundary,
            discarded=0,
            reason=reason,
            result="refused",
            refusal={"code": exc.full_code, "message": exc.message},
            dry_run=dry_run,
        )

    async def replays(self) -> list[dict[str, Any]]:
        """The audit, newest first, in the HTTP API's form."""
        return [r.to_json() for r in await self.audit.records()]

    async def attempts(self) -> list[AttemptInfo]:
        """The archived attempts still kept, oldest first."""
        return await list_attempts(self._driver)

    async def _last_attempt(self) -> int | None:
        attempts = await list_attempts(self._driver)
        return attempts[-1].number if attempts else None

    async def attempt(self, number: int) -> tuple[AttemptInfo, HistorySnapshot]:
        """Archived attempt ``number``: its record and the entries it discarded.

        Raises:
            InspectorError: 404 ``workflow.attempt_not_found`` when it is not kept.
        """
        infos = {a.number: a for a in await self.attempts()}
        try:
            snapshot = await load_attempt(self._driver, number)
        except AttemptNotFound:
            snapshot = None
        info = infos.get(number)
        if snapshot is None or info is None:
            kept = ", ".join(str(n) for n in sorted(infos)) or "none"
            raise errors.InspectorError(
                404, "workflow", "attempt_not_found", f"no archived attempt {number}; kept: {kept}"
            )
        return info, snapshot

    async def attempt_json(self, number: int) -> dict[str, Any]:
        """``GET /inspector/workflow-history?attempt=N``: the §8 shape plus ``attempt``."""
        info, snapshot = await self.attempt(number)
        return {
            "history": self.history_json(snapshot),
            "isWorkflowEnabled": True,
            "attempt": attempt_info_json(info),
        }


def attempt_info_json(info: AttemptInfo) -> dict[str, Any]:
    return {
        "number": info.number,
        "createdAt": info.created_at,
        "targetId": info.target_id,
        "boundaryId": info.boundary_id,
        "entries": info.entries,
        "state": info.state,
        "error": info.error,
    }
