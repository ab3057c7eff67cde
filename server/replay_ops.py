"""Replay as an operator uses it: by path, dry run, with a reason, audited, archived.

Replay features beyond the protocol. The v1-v4 WebSocket messages
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
* **reason and audit** — ``server/audit.py``. Every body field is checked
  before anything happens (types, lengths, text that can be stored), and a
  replay's audit record is written in the rewind's own batch (the engine's
  ``rewind`` ``prepare`` hook): both are stored or neither, a crash included.
  The record is built from the plan the engine applied inside its lock, so
  concurrent replays each record their own attempt and discarded count;
* **state restore** — ``{"restoreState": true}`` on an actor defined with
  ``state_checkpoints`` rewinds the actor state to its checkpoint at the
  boundary, in the same batch; a dry run with it shows the state diff;
* **archived attempts** — the engine archives what a replay discards as
  attempt N (``list_attempts`` / ``load_attempt``); ``GET
  /inspector/workflow-history?attempt=N`` reads one back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from actorscope.engine.attempts import AttemptInfo, list_attempts, load_attempt
from actorscope.engine.driver import Driver
from actorscope.engine.errors import (
    AttemptNotFound,
    EngineError,
    ReplayInFlight,
    ReplayTargetNotStep,
    StateCheckpointsDisabled,
    StateCheckpointUnavailable,
    StepNotFound,
    WorkflowBusy,
)
from actorscope.engine.model import kind_name
from actorscope.engine.paths import resolve_path
from actorscope.engine.replay import (
    ReplayApplied,
    ReplayCommitted,
    ReplayDecision,
    ReplayPlan,
    ReplayPrepare,
    plan_replay,
)

from . import errors
from .audit import ReplayAudit, ReplayAuditRecord
from .jsonvalues import to_jsonable
from .replay_body import ReplayRequestBody
from .state_diff import state_diff

if TYPE_CHECKING:
    from actorscope.engine.snapshot import HistorySnapshot

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PAGE_BUDGET_BYTES",
    "ReplayOperator",
    "ReplayOutcome",
    "ReplayRequestBody",
    "ReplayTarget",
    "attempt_info_json",
    "engine_refusal",
    "entry_view",
]


#: ``GET …/workflow/replays``: records per page by default, at most, and the
#: byte budget of one answer (a page stops early rather than pass it).
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PAGE_BUDGET_BYTES = 256 * 1024


class ReplayTarget(Protocol):
    """What the operator needs of an actor's workflow (the server's workflow host)."""

    async def history(self) -> HistorySnapshot: ...

    async def rewind(
        self,
        entry_id: str | None,
        *,
        path: str | None,
        restore_state: bool,
        prepare: ReplayPrepare,
        committed: ReplayCommitted,
    ) -> ReplayApplied:
        """The engine's ``rewind`` (its ``EngineError``s pass through)."""
        ...

    async def restore_preview(self, snapshot: HistorySnapshot, plan: ReplayPlan) -> tuple[Any, Any]:
        """(current state, state a restore with ``plan`` would write)."""
        ...


@attrs.frozen
class ReplayOutcome:
    """A replay that happened: the history right after the rewind, and what it cost."""

    snapshot: HistorySnapshot
    boundary: dict[str, Any] | None
    discarded: int
    attempt: int | None
    record: ReplayAuditRecord
    state_restored: bool = False


def engine_refusal(exc: EngineError, step: str | None = None) -> errors.InspectorError:
    """The §8 status and code of an engine refusal (never a bare 500)."""
    match exc:
        case StepNotFound() if step is not None:
            closest = ", ".join(exc.closest) if exc.closest else "none"
            return errors.step_not_found(
                f"no workflow entry at path {step!r}; closest existing paths: {closest}"
            )
        case StepNotFound():
            return errors.step_not_found(str(exc))
        case ReplayTargetNotStep():
            return errors.replay_target_not_step(str(exc))
        case ReplayInFlight() | WorkflowBusy():
            return errors.replay_in_flight(str(exc))
        case StateCheckpointsDisabled():
            return errors.InspectorError(
                400,
                "workflow",
                "state_checkpoints_disabled",
                "this actor keeps no state checkpoints, so its state cannot be restored "
                "(define it with state_checkpoints=True)",
            )
        case StateCheckpointUnavailable():
            return errors.InspectorError(409, "workflow", "state_checkpoint_unavailable", str(exc))
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
        target: the actor's workflow (``history()`` / ``rewind(...)``).
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
            raise engine_refusal(exc, step) from None

    async def dry_run(
        self, entry_id: str | None = None, step: str | None = None, restore_state: bool = False
    ) -> dict[str, Any]:
        """What a replay would do, as the HTTP API answers it; changes nothing.

        With ``restore_state`` the answer adds ``state``: the current state,
        the one the replay would restore, and the ``diff`` between them.
        """
        target = await self.resolve(entry_id, step)
        snapshot = await self._target.history()
        try:
            plan = plan_replay(snapshot, target)
            answer: dict[str, Any] = {
                "dryRun": True,
                "target": None if target is None else entry_view(snapshot, target),
                "boundary": None
                if plan.boundary_id is None
                else entry_view(snapshot, plan.boundary_id),
                "discard": [entry_view(snapshot, d) for d in plan.discarded_ids],
                "history": self.history_json(snapshot),
                "restoreState": restore_state,
            }
            if restore_state:
                current, restored = await self._target.restore_preview(snapshot, plan)
                answer["state"] = {
                    "current": to_jsonable(current),
                    "restored": to_jsonable(restored),
                    "diff": to_jsonable(state_diff(current, restored)),
                }
        except EngineError as exc:
            raise engine_refusal(exc) from None
        return answer

    async def preview(
        self, body: ReplayRequestBody, *, credential: str, transport: str
    ) -> dict[str, Any]:
        """A dry-run request: ``dry_run``, and with ``audit_refusal`` a refusal audited.

        The refusal is recorded as a refused replay with ``dry_run=True`` (see
        the module docstring: the preview of a replay the operator asked for).
        """
        try:
            return await self.dry_run(body.entry_id, body.step, body.restore_state)
        except errors.InspectorError as exc:
            if body.audit_refusal:
                await self._audit_refusal(
                    exc,
                    target={"entryId": body.entry_id, "step": body.step},
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
        restore_state: bool = False,
        credential: str,
        transport: str,
    ) -> ReplayOutcome:
        """Rewind the workflow, its audit record in the same atomic batch.

        The engine plans inside the workflow's lock and hands the plan and
        the attempt number to ``prepare``, which builds the record from
        exactly those; the record is written with the rewind or not at all.
        A refusal is audited (on its own), then raised.

        Raises:
            InspectorError: ``request.invalid`` (400, nothing audited: the
                reason cannot be recorded), ``workflow.step_not_found`` (404),
                ``workflow.replay_target_not_step`` (400),
                ``workflow.replay_in_flight`` (409),
                ``workflow.state_checkpoints_disabled`` (400),
                ``workflow.state_checkpoint_unavailable`` (409).
        """
        # The same checks as the HTTP body's, for every transport: a target
        # or reason the audit could not hold is refused before anything.
        ReplayRequestBody.from_json({"entryId": entry_id, "step": step, "reason": reason})
        await self.audit.open()
        target_json = {"entryId": entry_id, "step": step}
        made: list[tuple[ReplayAuditRecord, dict[str, Any] | None]] = []

        def prepare(decision: ReplayDecision) -> list[Any]:
            plan, view = decision.plan, decision.before
            boundary = None
            if plan.boundary_id is not None:
                boundary = entry_view(view, plan.boundary_id)
                del boundary["status"]
            record, ops = self.audit.done_ops(
                transport=transport,
                credential=credential,
                target={"entryId": plan.target_id, "step": step},
                boundary=boundary,
                discarded=len(plan.discarded_ids),
                reason=reason,
                attempt=decision.attempt,
                state_restored=decision.restored_state is not None,
            )
            made.append((record, boundary))
            return ops

        def committed(_decision: ReplayDecision) -> None:
            self.audit.done_committed(made[-1][0])

        try:
            try:
                applied = await self._target.rewind(
                    entry_id,
                    path=None if step is None else step.strip("/"),
                    restore_state=restore_state,
                    prepare=prepare,
                    committed=committed,
                )
            except EngineError as exc:
                raise engine_refusal(exc, step) from None
        except errors.InspectorError as exc:
            await self._audit_refusal(
                exc,
                target=target_json,
                reason=reason,
                credential=credential,
                transport=transport,
            )
            raise exc from None
        record, boundary = made[-1]
        return ReplayOutcome(
            applied.snapshot,
            boundary,
            len(applied.plan.discarded_ids),
            applied.attempt,
            record,
            applied.restored_state is not None,
        )

    async def _audit_refusal(
        self,
        exc: errors.InspectorError,
        *,
        target: dict[str, Any],
        reason: str | None,
        credential: str,
        transport: str,
        dry_run: bool = False,
    ) -> None:
        await self.audit.append(
            transport=transport,
            credential=credential,
            target=target,
            boundary=None,
            discarded=0,
            reason=reason,
            result="refused",
            refusal={"code": exc.full_code, "message": exc.message},
            dry_run=dry_run,
        )

    async def replays(
        self, limit: int = DEFAULT_PAGE_SIZE, before: int | None = None
    ) -> dict[str, Any]:
        """One page of the audit, newest first: ``{"replays": [...], "nextBefore"}``.

        ``nextBefore`` is the ``before`` that reads the next (older) page,
        ``null`` on the last one. A page also ends early once its records
        pass ``PAGE_BUDGET_BYTES`` of JSON.
        """
        records, more = await self.audit.page(limit, before)
        out: list[dict[str, Any]] = []
        size = 0
        for record in records:
            item = record.to_json()
            length = len(json.dumps(item, ensure_ascii=False).encode())
            if out and size + length > PAGE_BUDGET_BYTES:
                more = True
                break
            out.append(item)
            size += length
        return {"replays": out, "nextBefore": out[-1]["seq"] if more and out else None}

    async def attempts(self) -> list[AttemptInfo]:
        """The archived attempts still kept, oldest first."""
        return await list_attempts(self._driver)

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
