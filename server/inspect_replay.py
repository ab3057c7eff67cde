"""``actorscope inspect replay`` and ``replays``: a replay with its preview, and the audit.

``replay`` always shows the dry run first (the rewind boundary and what is
discarded), asks before replaying unless ``--yes``, and refuses to run
against a server without the operator routes (a plain server would replay
from the start whatever was asked). ``replays`` pages the audit.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from actorscope.client.http import HttpInspector, InspectorHttpError
from actorscope.client.render import Style, render_plan, render_replays

from .inspect_common import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, UsageError, print_json, wants_json

__all__ = ["replay", "replays"]


def replay(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    targets = sum(1 for given in (args.entry_id, args.step, args.from_start) if given)
    if targets > 1:
        raise UsageError("give one of ENTRY_ID, --step PATH or --from-start, not several")
    if targets == 0:
        # The wire contract reads a request without a target as "from the
        # start"; a command that discards everything is asked for by name.
        raise UsageError(
            "say where to replay from: ENTRY_ID, --step PATH, or --from-start "
            "(the whole workflow)"
        )
    _require_operator_routes(actor)
    try:
        plan = _preview(actor, args)
    except InspectorHttpError as exc:
        if exc.code == "workflow.step_not_found" and args.entry_id:
            print(
                f"hint: to target a step by its path, use --step {args.entry_id}", file=sys.stderr
            )
        raise
    if args.dry_run:
        if wants_json(args):
            print_json(plan)
        else:
            print(render_plan(plan, style))
        return EXIT_OK
    if not wants_json(args):
        print(render_plan(plan, style))
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "actorscope inspect: refusing to replay without confirmation: "
                "stdin is not a terminal (pass --yes)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        answer = input("Replay the workflow from here? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not replayed", file=sys.stderr)
            return EXIT_REFUSED
    result = actor.replay(
        args.entry_id, step=args.step, reason=args.reason, restore_state=args.restore_state
    )
    if wants_json(args):
        print_json(result)
        return EXIT_OK
    discarded = result.get("discarded", len(plan.get("discard") or []))
    attempt = result.get("attempt")
    text = f"replayed: {discarded} entr{'y' if discarded == 1 else 'ies'} discarded"
    if attempt is not None:
        text += f", archived as attempt {attempt} (history --diff {attempt})"
    if result.get("stateRestored"):
        text += "; state restored"
    print(style.paint(text, "green"))
    return EXIT_OK


def _preview(actor: HttpInspector, args: argparse.Namespace) -> Any:
    """The dry run shown before a replay (or alone, with ``--dry-run``).

    Before a real replay the preview carries ``auditRefusal`` and the reason:
    if the server refuses it there, the audit still records the operator's
    replay as refused (``dryRun: true``, nothing reached the workflow). A
    ``--dry-run`` is only a look and is never audited. (Sending the real
    request after a refused preview would record it too, but the state may
    have changed in between and it could then replay unconfirmed.)
    """
    if args.dry_run:
        return actor.replay(
            args.entry_id, step=args.step, dry_run=True, restore_state=args.restore_state
        )
    body: dict[str, Any] = {"dryRun": True, "auditRefusal": True}
    if args.restore_state:
        body["restoreState"] = True
    if args.entry_id is not None:
        body["entryId"] = args.entry_id
    if args.step is not None:
        body["step"] = args.step
    if args.reason is not None:
        body["reason"] = args.reason
    path = f"/gateway/{quote(actor.actor_id, safe='')}/inspector/workflow/replay"
    return actor.server.request("POST", path, body)


def _require_operator_routes(actor: HttpInspector) -> None:
    """Refuse before replaying on a server without the operator routes.

    A plain §8 server ignores ``dryRun`` and ``step`` and would replay for
    real (from the start); the audit route tells the two apart.
    """
    try:
        actor.replays()
    except InspectorHttpError as exc:
        if exc.status == 404 and not exc.code:
            raise InspectorHttpError(
                404,
                "inspector.operator_routes_missing",
                "this server has no dry run, step paths or replay audit "
                "(GET /inspector/workflow/replays is missing); nothing was replayed",
            ) from None
        raise


def replays(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.all:
        if args.before is not None:
            raise UsageError("give --all or --before, not both")
        result: Any = {"replays": list(actor.iter_replays(args.limit)), "nextBefore": None}
    else:
        result = actor.replays(args.limit, args.before)
    if wants_json(args):
        print_json(result)
        return EXIT_OK
    print(render_replays(result.get("replays") or [], style))
    if result.get("nextBefore") is not None:
        print(style.paint(f"older records: replays --before {result['nextBefore']}", "dim"))
    return EXIT_OK
